#!/usr/bin/env bash
# Start a private, throw-away Dovecot IMAP server on 127.0.0.1 for `benches/imap.rs --dovecot`.
#
#   bash benches/dovecot.sh [PORT]     # PORT: a free port; picked here when omitted
#
# Installs dovecot-imapd when missing (needs root, as the bench machines are), writes a
# self-contained config into a fresh temp dir (nothing under /etc is read or changed), starts
# `dovecot -F -c CONF` in the background and prints, as its last stdout line:
#
#   PORT PID MAILDIR
#
# PID is the dovecot master (kill it to stop everything), MAILDIR the user's maildir (its parent is
# the temp dir to delete afterwards). Login: benchuser / benchpass. Everything else goes to stderr;
# Dovecot's own log is MAILDIR/../dovecot.log.
set -euo pipefail
log() { echo "dovecot.sh: $*" >&2; }

if ! command -v dovecot >/dev/null 2>&1 && [ ! -x /usr/sbin/dovecot ]; then
    log "installing dovecot-imapd"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y dovecot-imapd >&2 || { apt-get update >&2 && apt-get install -y dovecot-imapd >&2; }
fi
DOVECOT=$(command -v dovecot || echo /usr/sbin/dovecot)
VERSION=$("$DOVECOT" --version | cut -d' ' -f1)

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=${1:-}
if [ -z "$PORT" ]; then
    for _ in $(seq 1 50); do
        PORT=$((20000 + RANDOM % 40000))
        port_busy "$PORT" || break
    done
fi

T=$(mktemp -d /tmp/postfach-dovecot.XXXXXX)
chmod 755 "$T"                      # the unprivileged mail and login users must traverse it
MAILUID=$(id -u nobody); MAILGID=$(id -g nobody)
mkdir -p "$T/mail" "$T/home"
chown "$MAILUID:$MAILGID" "$T/mail" "$T/home"
echo "benchuser:{PLAIN}benchpass:$MAILUID:$MAILGID::$T/home::" > "$T/passwd"
chmod 644 "$T/passwd"

# Settings common to the 2.3 and 2.4 config syntaxes; fsync is left at Dovecot's default.
# mail_max_userip_connections (default 10) and the process limit (one imap process per
# connection) must allow the bench's 1,000 idle connections (`idlemem`), with some headroom.
common="protocols = imap
listen = 127.0.0.1
base_dir = $T/run
state_dir = $T/state
log_path = $T/dovecot.log
ssl = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
default_process_limit = 1200
default_client_limit = 4000
service imap-login {
  inet_listener imap {
    port = $PORT
  }
  inet_listener imaps {
    port = 0
  }
}
protocol imap {
  mail_max_userip_connections = 1200
}"

case "$VERSION" in
2.4* | 2.5* | [3-9].*)
    cat > "$T/dovecot.conf" <<CONF
dovecot_config_version = 2.4.0
dovecot_storage_version = 2.4.0
$common
auth_allow_cleartext = yes
mail_driver = maildir
mail_path = $T/mail
namespace inbox {
  inbox = yes
}
passdb passwd-file {
  passwd_file_path = $T/passwd
}
userdb passwd-file {
  passwd_file_path = $T/passwd
}
CONF
    ;;
*)
    cat > "$T/dovecot.conf" <<CONF
$common
disable_plaintext_auth = no
mail_location = maildir:$T/mail
passdb {
  driver = passwd-file
  args = username_format=%u $T/passwd
}
userdb {
  driver = passwd-file
  args = username_format=%u $T/passwd
}
CONF
    ;;
esac

"$DOVECOT" -F -c "$T/dovecot.conf" </dev/null >>"$T/dovecot.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do
    if port_busy "$PORT"; then
        log "dovecot $VERSION (pid $PID) on 127.0.0.1:$PORT, data in $T"
        echo "$PORT $PID $T/mail"
        exit 0
    fi
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
done
log "dovecot did not come up; its log:"
cat "$T/dovecot.log" >&2
kill "$PID" 2>/dev/null || true
exit 1
