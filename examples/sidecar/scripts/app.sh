#!/bin/sh
# The unprivileged application container (origin: nonpriv.sh).  It has no
# CAP_SYS_ADMIN: it hands its namespace fds to the privileged sidecar, waits
# for the ready file and chroots into the overlay the sidecar built.
SOCKET=/exclude/shared/nsfdsuds.socket
READY=/exclude/shared/ready
NEWROOT=/exclude/newroot

echo "app: serving namespace fds on $SOCKET ($1 protocol)"
if [ "$1" = legacy ]; then
  /bin/nsfdsuds --server "$SOCKET" || { echo "app: nsfdsuds --server failed"; exit 1; }
else
  /bin/nsfdsuds serve "$SOCKET" --once --timeout 60 || { echo "app: nsfdsuds serve failed"; exit 1; }
fi

echo "app: sent namespace fds, waiting for $READY"
i=0
while [ ! -e "$READY" ]; do
  i=$((i + 1))
  [ "$i" -gt 600 ] && { echo "app: no ready file after 60 s"; exit 1; }
  sleep 0.1
done
echo "app: chroot into $NEWROOT"
exec chroot "$NEWROOT" /bin/sh /scripts/init.sh
