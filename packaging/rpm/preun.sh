# upki-ra %preun: stop the service on erase ($1 = 0), not on upgrade.
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
    systemctl stop upki-ra.service upki-ca.service >/dev/null 2>&1 || :
fi
