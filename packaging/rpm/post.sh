# upki-ra %post: the system user (sysusers.d entry) and the state directory. $1 = 1 on
# install, 2 on upgrade.
systemd-sysusers /usr/lib/sysusers.d/upki-ra.conf || exit 1
install -d -m 0700 -o upki-ra -g upki-ra /var/lib/upki-ra
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -ge 2 ]; then
        systemctl try-restart upki-ra.service >/dev/null 2>&1 || :
    fi
fi
