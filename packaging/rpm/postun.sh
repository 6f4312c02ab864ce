# upki-ra %postun: reload unit files after erase; the state in /var/lib/upki-ra is kept.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
