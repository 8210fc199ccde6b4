# Make the base image cbdeploy-example/busybox:1 with `docker import` of a
# busybox root filesystem, unless the Docker engine has it already.
set -eu
BASE=cbdeploy-example/busybox:1
if docker image inspect "$BASE" >/dev/null 2>&1; then
    echo "base image $BASE is here"
    exit 0
fi
BUSYBOX="$(command -v busybox || true)"
if [ -z "$BUSYBOX" ]; then
    echo "no busybox in this build image: install busybox-static to make the base image" >&2
    exit 1
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rootfs/bin" "$work/rootfs/tmp" "$work/rootfs/etc"
cp "$BUSYBOX" "$work/rootfs/bin/busybox"
for applet in $("$work/rootfs/bin/busybox" --list); do
    [ -e "$work/rootfs/bin/$applet" ] || ln -s busybox "$work/rootfs/bin/$applet"
done
# A reproducible tarball: the same busybox gives the same layer.
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
    -C "$work/rootfs" -cf "$work/rootfs.tar" .
docker import --change 'ENV PATH=/bin' "$work/rootfs.tar" "$BASE"
echo "made base image $BASE"
