#!/bin/sh
# Inside the Soft-RoCE VM (run by test/rdma/vm.sh's command file): connects veth0 <-> veth1, puts an
# rxe device on each end, waits for both ports to be ACTIVE, configures eth0 (QEMU user-mode
# networking: the host's 127.0.0.1:PORT is 10.0.2.2:PORT from here), then runs "$@".
#   veth0 169.254.77.1/24  rxe0        veth1 169.254.77.2/24  rxe1        eth0 10.0.2.15/24
# Between rxe0 and rxe1 use GID index 0 (IPv6 link-local): GID 1 (IPv4-mapped) fails at RTR across
# the two devices. DAD is off so the link-local addresses (and so GID 0) are usable at once.
set -e
echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad
echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad
ip link set lo up
ip addr add 10.0.2.15/24 dev eth0
ip link set eth0 up
ip link add veth0 type veth peer name veth1
ip addr add 169.254.77.1/24 dev veth0
ip addr add 169.254.77.2/24 dev veth1
ip link set veth0 up
ip link set veth1 up
printf 'link add rxe0 type rxe netdev veth0\nlink add rxe1 type rxe netdev veth1\n' | rdma -b -
i=0
until ibv_devinfo -d rxe0 2>/dev/null | grep -q PORT_ACTIVE && ibv_devinfo -d rxe1 2>/dev/null | grep -q PORT_ACTIVE; do
	i=$((i + 1))
	[ $i -lt 600 ] || { echo "guest-net: rxe ports did not become ACTIVE within >= 60 s"; rdma link; exit 1; }
	sleep 0.1
done
set +e
exec "$@"
