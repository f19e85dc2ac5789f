#!/bin/sh
# compare.sh: youju vs Postfix+Dovecot, same load tool, same machine, same run.
#
# youju: bench/smtp -self (in-process MX, SQLite store on disk, 250 only
#   after the message and its index are fsynced).
# Postfix (Debian package) on 127.0.0.1:$PF_PORT with its own throwaway
#   config_directory and queue_directory under $BASE, relaying every
#   message for bench.test over LMTP to a Dovecot (Debian package) on
#   127.0.0.1:$LMTP_PORT with a passwd-file user and a maildir under $BASE.
#   Postfix says 250 once the message is fsynced in its queue; it then
#   delivers to Dovecot, which fsyncs the maildir file. We report both the
#   acceptance rate (what the client sees, like youju's) and the end-to-end
#   rate (until the last message is in the maildir).
#
# Needs root (Postfix's master runs as root), postfix, dovecot-lmtpd.
# Usage: sh bench/smtp/compare.sh [messages-1-conn] [messages-50-conns]
set -eu

N1=${1:-2000}
N50=${2:-20000}
SIZE=10240
PF_PORT=${PF_PORT:-2526}
LMTP_PORT=${LMTP_PORT:-2424}
BASE=$(mktemp -d /tmp/youju-compare.XXXXXX)
chmod 755 "$BASE" # Postfix and Dovecot run parts as their own users
REPO=$(cd "$(dirname "$0")/../.." && pwd)
TOOL=$BASE/smtpbench

cleanup() {
	postfix -c "$BASE/postfix/etc" stop >/dev/null 2>&1 || true
	[ -f "$BASE/dovecot/run/master.pid" ] && kill "$(cat "$BASE/dovecot/run/master.pid")" 2>/dev/null || true
	sleep 1
	[ -n "${KEEP:-}" ] || rm -rf "$BASE"
}
trap cleanup EXIT INT TERM

(cd "$REPO" && go build -o "$TOOL" ./bench/smtp)

# --- Dovecot: LMTP only, one passwd-file user, maildir. ---
mkdir -p "$BASE/dovecot/run" "$BASE/dovecot/state" "$BASE/mail"
chown nobody:nogroup "$BASE/mail"
echo "user@bench.test:{PLAIN}unused:65534:65534::$BASE/mail/user" >"$BASE/dovecot/passwd"
cat >"$BASE/dovecot/dovecot.conf" <<EOF
base_dir = $BASE/dovecot/run
state_dir = $BASE/dovecot/state
instance_name = youju-compare
protocols = lmtp
listen = 127.0.0.1
ssl = no
log_path = $BASE/dovecot/log
first_valid_uid = 100
last_valid_uid = 0
default_internal_user = dovecot
default_login_user = dovenull
mail_location = maildir:~/Maildir
mail_fsync = optimized
lmtp_proxy = no
passdb {
  driver = passwd-file
  args = $BASE/dovecot/passwd
}
userdb {
  driver = passwd-file
  args = username_format=%u $BASE/dovecot/passwd
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $LMTP_PORT
  }
  process_limit = 100
}
EOF
dovecot -c "$BASE/dovecot/dovecot.conf"

# --- Postfix: own instance, virtual domain bench.test -> LMTP. ---
mkdir -p "$BASE/postfix/etc" "$BASE/postfix/queue" "$BASE/postfix/data"
chown postfix "$BASE/postfix/data"
cp /etc/postfix/master.cf "$BASE/postfix/etc/master.cf"
cp /etc/postfix/dynamicmaps.cf "$BASE/postfix/etc/" 2>/dev/null || true
cp -r /etc/postfix/dynamicmaps.cf.d "$BASE/postfix/etc/" 2>/dev/null || true
# Our listener instead of port 25, and no chroot (the queue is elsewhere).
sed -i -e "s/^smtp      inet  n       -       y/$PF_PORT inet  n       -       n/" \
	-e 's/^\([a-z]*\) *\(unix\|unix-dgram\|inet\|fifo\|pass\) *\([-ny]\) *\([-ny]\) *y /\1 \2 \3 \4 n /' \
	"$BASE/postfix/etc/master.cf"
cat >"$BASE/postfix/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $BASE/postfix/queue
data_directory = $BASE/postfix/data
maillog_file = $BASE/postfix/maillog
maillog_file_prefixes = /tmp
mail_owner = postfix
setgid_group = postdrop
myhostname = bench-postfix.test
mydomain = bench-postfix.test
myorigin = bench-postfix.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mydestination =
relayhost =
virtual_mailbox_domains = bench.test
virtual_mailbox_maps = inline:{ user@bench.test=ok }
virtual_transport = lmtp:inet:127.0.0.1:$LMTP_PORT
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
default_process_limit = 200
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
lmtp_destination_concurrency_limit = 50
smtputf8_enable = no
biff = no
EOF
postfix -c "$BASE/postfix/etc" check
postfix -c "$BASE/postfix/etc" start
sleep 2

delivered() { find "$BASE/mail/user/Maildir/new" "$BASE/mail/user/Maildir/cur" -type f 2>/dev/null | wc -l; }

# run_postfix CONNS N: acceptance from the tool, end-to-end from the maildir.
run_postfix() {
	before=$(delivered)
	start=$(date +%s.%N)
	"$TOOL" -addr 127.0.0.1:$PF_PORT -to user@bench.test -conns "$1" -messages "$2" -size $SIZE
	while [ $(($(delivered) - before)) -lt "$2" ]; do
		sleep 0.2
		now=$(date +%s)
		if [ $((now - ${start%.*})) -gt 600 ]; then echo "postfix: timeout waiting for delivery"; return 1; fi
	done
	end=$(date +%s.%N)
	echo "  end to end into Dovecot's maildir: $2 messages in $(echo "$end - $start" | bc) s: $(echo "$2 / ($end - $start)" | bc) msg/s"
}

echo "== youju, 1 connection";     "$TOOL" -self -conns 1 -messages "$N1" -size $SIZE
echo "== Postfix+Dovecot, 1 connection"; run_postfix 1 "$N1"
echo "== youju, 50 connections";   "$TOOL" -self -conns 50 -messages "$N50" -size $SIZE
echo "== Postfix+Dovecot, 50 connections"; run_postfix 50 "$N50"
echo "== youju, 50 connections, BDAT"; "$TOOL" -self -conns 50 -messages "$N50" -size $SIZE -bdat
echo "(load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores)"
