#!/bin/sh
# The application after the chroot (origin: init.sh): report what works in
# the new root and write a file that must land in the upper directory.
{
  echo "root=$(awk '$5 == "/" { for (i = 7; i < NF; i++) if ($i == "-") fs = $(i + 1) } END { print fs }' /proc/self/mountinfo)"
  [ -r /proc/self/status ] && echo "proc=ok" || echo "proc=FAIL"
  if [ -c /dev/null ] && echo probe > /dev/null; then echo "dev=ok"; else echo "dev=FAIL"; fi
  grep -q A-sidecar-marker /etc/hosts && echo "hosts=ok" || echo "hosts=FAIL"
  [ -d /sys/kernel ] && echo "sys=ok" || echo "sys=FAIL"
  [ -e /exclude/shared/ready ] && echo "shared=visible" || echo "shared=hidden"
  echo "capeff=$(awk '/^CapEff/ {print $2}' /proc/self/status)"
  echo "hostname=$(hostname)"
} > /results
echo "written by the app after chroot" > /app-wrote-this
sed 's/^/app: /' /results
