#!/usr/bin/env python3
"""bench/trace-steps.py LOG...: where the time of an activated start goes.

Each LOG is `strace --seccomp-bpf -f -ttt -s 300 -e trace=write,execve,exit_group,pivot_root`
of one `runtime run`, with nsfdsuds at logLevel "trace" and log ["stderr"] so that the
step lines (lib/log.c nsfd_log_step) are written where strace sees them.  Prints, per
pair of consecutive events, the median over the logs.  Not used by bench/run.sh; see
"Where the time goes" in docs/performance.md for how it is run."""
import collections
import re
import statistics
import sys

STEP = re.compile(r'write\(2, "nsfdsuds-[a-z]+: trace: (?:container [^:]*: )?step (.+?): \d+ us')
LINE = re.compile(r'(\d+)\s+(\d+\.\d+)\s+(.*)')
EXEC = re.compile(r'execve\("([^"]+)", \[(.*?)\]')


def events(path):
    ev, role, last = [], {}, None
    for line in open(path):
        m = LINE.match(line)
        if not m:
            continue
        pid, t, s = int(m[1]), float(m[2]), m[3]
        if not ev:
            ev.append((t, 'runtime started'))
        last = t
        e = EXEC.match(s)
        if e:
            if 'nsfdsuds-hook' in e[1] or (e[1] == '/bin/true' and e[2].startswith('"/bin/true"')):
                role[pid] = 'hook'
                ev.append((t, 'exec hook'))
            elif e[2].startswith('"true"'):
                role[pid] = 'init'
                ev.append((t, 'exec of the container process'))
            elif 'nsfdsuds-runtime' in e[1]:
                role[pid] = 'wrap'
                ev.append((t, 'exec wrapper'))
        w = STEP.match(s)
        if w:
            ev.append((t, w[1]))
        if s.startswith('pivot_root'):
            ev.append((t, 'pivot_root'))
        if role.get(pid) == 'init' and s.startswith('exit_group'):
            ev.append((t, 'container process exit_group'))
        if role.get(pid) == 'init' and s.startswith('+++ exited'):
            ev.append((t, 'container process gone'))
        if role.get(pid) == 'hook' and s.startswith('+++ exited'):
            ev.append((t, 'hook gone'))
    ev.append((last, 'runtime exited'))
    ev.sort()
    return ev


def main(paths):
    runs = [events(p) for p in paths]
    order, spans = [], collections.defaultdict(list)
    for ev in runs:
        seen = collections.Counter()
        for (t0, a), (t1, b) in zip(ev, ev[1:]):
            k = '%s -> %s' % (a, b)
            seen[k] += 1
            if seen[k] > 1:
                k += ' #%d' % seen[k]
            if k not in spans:
                order.append(k)
            spans[k].append((t1 - t0) * 1e6)
    print('%-80s %9s %5s' % ('step (previous event -> event)', 'median us', 'n'))
    for k in order:
        if len(spans[k]) * 2 >= len(runs):
            print('%-80s %9.0f %5d' % (k, statistics.median(spans[k]), len(spans[k])))
    print('median total %.0f us over %d runs' % (statistics.median([(e[-1][0] - e[0][0]) * 1e6 for e in runs]), len(runs)))


if __name__ == '__main__':
    main(sys.argv[1:])
