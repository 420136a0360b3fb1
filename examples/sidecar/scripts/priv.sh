#!/bin/sh
# The privileged sidecar (origin: priv.sh).  Receives the app's namespace
# fds and runs overlay.sh inside the app's mount namespace.
SOCKET=/exclude/shared/nsfdsuds.socket

echo "priv: connecting to $SOCKET ($1 protocol)"
if [ "$1" = legacy ]; then
  # The origin's form: execv(argv[3], argv + 4), so "sh" is the program's
  # argv[0]; the six fds stay open and nsenter.sh looks for the mnt one.
  exec /bin/nsfdsuds --client "$SOCKET" /bin/sh sh /scripts/nsenter.sh
fi
# Modern: nsfdsuds joins the mount namespace itself; after setns the root
# and working directory are the app's, so /scripts/overlay.sh is the app's.
exec /bin/nsfdsuds connect "$SOCKET" --enter mnt --timeout 30 -- /bin/sh /scripts/overlay.sh
