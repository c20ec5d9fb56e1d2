#!/usr/bin/env bash
# Start a private, throw-away Dovecot IMAP server on 127.0.0.1 for `benches/imap.rs --dovecot`.
#
#   bash benches/dovecot.sh [PORT [LMTP_PORT]]   # free ports; picked here when omitted
#
# Installs dovecot-imapd, dovecot-lmtpd and dovecot-sieve (Pigeonhole) when missing (needs root,
# as the bench machines are), writes a self-contained config into a fresh temp dir (nothing under
# /etc is read or changed), starts `dovecot -F -c CONF` in the background and prints, as its last
# stdout line:
#
#   PORT PID MAILDIR lmtp=LMTP_PORT sieve=yes|no
#
# PID is the dovecot master (kill it to stop everything), MAILDIR the user's maildir (its parent is
# the temp dir to delete afterwards). Login: benchuser / benchpass. LMTP (on 127.0.0.1:LMTP_PORT,
# `lmtp=0` if dovecot-lmtpd is missing) takes any address whose local part is benchuser, and runs
# the Sieve script MAILDIR/../home/.dovecot.sieve when Pigeonhole is there (`sieve=yes`; write the
# script there, readable by `nobody`). Everything else goes to stderr; Dovecot's own log is
# MAILDIR/../dovecot.log.
set -euo pipefail
log() { echo "dovecot.sh: $*" >&2; }

install() {
    log "installing $*"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y "$@" >&2 || { apt-get update >&2 && apt-get install -y "$@" >&2; }
}
if ! command -v dovecot >/dev/null 2>&1 && [ ! -x /usr/sbin/dovecot ]; then
    install dovecot-imapd
fi
DOVECOT=$(command -v dovecot || echo /usr/sbin/dovecot)
VERSION=$("$DOVECOT" --version | cut -d' ' -f1)
MODULES=$("$DOVECOT" --build-options 2>/dev/null | sed -n 's/^Module dir: //p')
MODULES=${MODULES:-/usr/lib/dovecot/modules}
LIBEXEC=$(dirname "$MODULES")
# LMTP and Sieve are optional: without them the IMAP scenarios still run.
[ -x "$LIBEXEC/lmtp" ] || install dovecot-lmtpd || log "WARNING: no dovecot-lmtpd"
[ -e "$MODULES/lib90_sieve_plugin.so" ] || install dovecot-sieve || log "WARNING: no dovecot-sieve"
LMTP=no; [ -x "$LIBEXEC/lmtp" ] && LMTP=yes
SIEVE=no; [ "$LMTP" = yes ] && [ -e "$MODULES/lib90_sieve_plugin.so" ] && SIEVE=yes

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
    local p
    for _ in $(seq 1 50); do
        p=$((20000 + RANDOM % 40000))
        port_busy "$p" || break
    done
    echo "$p"
}
PORT=${1:-}
[ -n "$PORT" ] || PORT=$(free_port)
LMTP_PORT=${2:-}
[ -n "$LMTP_PORT" ] || LMTP_PORT=$(free_port)
[ "$LMTP" = yes ] || LMTP_PORT=0

T=$(mktemp -d /tmp/postfach-dovecot.XXXXXX)
chmod 755 "$T"                      # the unprivileged mail and login users must traverse it
MAILUID=$(id -u nobody); MAILGID=$(id -g nobody)
mkdir -p "$T/mail" "$T/home"
chown "$MAILUID:$MAILGID" "$T/mail" "$T/home"
echo "benchuser:{PLAIN}benchpass:$MAILUID:$MAILGID::$T/home::" > "$T/passwd"
chmod 644 "$T/passwd"
PROTOCOLS=imap; [ "$LMTP" = yes ] && PROTOCOLS="imap lmtp"

# Settings common to the 2.3 and 2.4 config syntaxes; fsync is left at Dovecot's default.
# mail_max_userip_connections (default 10) and the process limit (one imap process per
# connection) must allow the bench's 1,000 idle connections (`idlemem`), with some headroom.
common="protocols = $PROTOCOLS
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
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $LMTP_PORT
  }
}"
# Users are looked up by local part (%n), so LMTP's benchuser@example.org is benchuser.

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
auth_username_format = %{user | username | lower}
passdb passwd-file {
  passwd_file_path = $T/passwd
}
userdb passwd-file {
  passwd_file_path = $T/passwd
}
CONF
    if [ "$SIEVE" = yes ]; then cat >> "$T/dovecot.conf" <<CONF
protocol lmtp {
  mail_plugins {
    sieve = yes
  }
}
sieve_script personal {
  driver = file
  path = $T/home/.dovecot.sieve
}
CONF
    fi
    ;;
*)
    cat > "$T/dovecot.conf" <<CONF
$common
disable_plaintext_auth = no
mail_location = maildir:$T/mail
passdb {
  driver = passwd-file
  args = username_format=%n $T/passwd
}
userdb {
  driver = passwd-file
  args = username_format=%n $T/passwd
}
protocol lmtp {
  postmaster_address = postmaster@example.org
}
CONF
    if [ "$SIEVE" = yes ]; then cat >> "$T/dovecot.conf" <<CONF
protocol lmtp {
  mail_plugins = \$mail_plugins sieve
}
plugin {
  sieve = file:$T/home/.dovecot.sieve
}
CONF
    fi
    ;;
esac

"$DOVECOT" -F -c "$T/dovecot.conf" </dev/null >>"$T/dovecot.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do
    if port_busy "$PORT"; then
        log "dovecot $VERSION (pid $PID) on 127.0.0.1:$PORT, data in $T"
        [ "$LMTP" = yes ] || log "WARNING: no LMTP (dovecot-lmtpd missing)"
        [ "$SIEVE" = yes ] || log "WARNING: no Sieve (Pigeonhole, dovecot-sieve, missing)"
        echo "$PORT $PID $T/mail lmtp=$LMTP_PORT sieve=$SIEVE"
        exit 0
    fi
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
done
log "dovecot did not come up; its log:"
cat "$T/dovecot.log" >&2
kill "$PID" 2>/dev/null || true
exit 1
