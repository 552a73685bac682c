#!/bin/sh
# Seed the participant's home on its persistent volume from the identity Secret (init container).
# The home holds what must outlive the pod: the renewed certificate and the privacy ledger
# (privacy/ledger.json, never touched here). The Secret's files are copied when the home has no
# identity yet, or when the Secret holds another key (the participant enrolled anew).
set -eu
src="${IDENTITY_DIR:-/etc/consortium/identity}"
home="$1"
for f in key.pem cert.pem ca.pem identity.json; do
    [ -f "$src/$f" ] || { echo "identity Secret lacks $f (make it from an enrolled home: docs/deploy.md)" >&2; exit 1; }
done
umask 077
mkdir -p "$home"
if [ -f "$home/identity.json" ] && cmp -s "$src/key.pem" "$home/key.pem"; then
    # a volume's group ownership may have been re-applied (fsGroup): the SDK refuses a key
    # that group or others may read, as ssh does
    chmod 0700 "$home"
    chmod 0600 "$home/key.pem"
    echo "home $home already holds this identity (its certificate may have been renewed since)"
    exit 0
fi
for f in key.pem cert.pem ca.pem identity.json; do
    cp "$src/$f" "$home/.$f.tmp"
    mv "$home/.$f.tmp" "$home/$f"
done
chmod 0600 "$home/key.pem"
chmod 0644 "$home/cert.pem" "$home/ca.pem" "$home/identity.json"
echo "home $home seeded from the identity Secret"
