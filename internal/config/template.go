package config

import (
	"bytes"
	"text/template"
)

// fileTemplate is what youju init writes: the settings that differ per
// installation, then every other setting commented out at its default, so
// that the file documents itself.
var fileTemplate = template.Must(template.New("youju.toml").Parse(`# youju configuration. Reference: docs/configuration.md
# Changes take effect when the server restarts (certificates: on SIGHUP).

domain = "{{.Domain}}"
hostname = "{{.Hostname}}"
{{- if .Listen}}
listen = "{{.Listen}}"
{{- else}}
# listen = ""            # address for every listener; "" = all addresses
{{- end}}
{{- if .PortOffset}}
port_offset = {{.PortOffset}}
{{- else}}
# port_offset = 0        # 10000 makes 25 -> 10025, 993 -> 10993, ...
{{- end}}

[listeners]
# "host:port", ":port" (on the listen address) or "off".
# smtp = ":25"           # receiving from the internet (MX)
# submissions = ":465"   # sending, implicit TLS
# submission = ":587"    # sending, STARTTLS
# imap = ":143"
# imaps = ":993"
# pop3 = ":110"
# pop3s = ":995"
# http = ":80"           # autoconfig and the settings page; e.g. ":8080"
# https = ":443"
# admin = "127.0.0.1:9100"  # Prometheus /metrics
# managesieve = ":4190"  # Sieve filters from Thunderbird, Roundcube (RFC 5804)

[tls]
cert = "{{.TLS.Cert}}"
key = "{{.TLS.Key}}"

[log]
# format = "text"        # or "json"
# level = "info"         # debug, info, warn, error

[limits]
# max_message_bytes = 52428800
# max_recipients = 1000
# max_connections = 2000
# max_connections_ip = 200
# preauth_percent = 50
# preauth_timeout = "60s"
# command_timeout = "60s"
# smtp_timeout = "5m"
# smtp_data_timeout = "10m"
# imap_idle_timeout = "30m"
# pop3_idle_timeout = "10m"
# default_quota_bytes = 0   # 0 = unlimited

[auth]
{{- if .Auth.AllowPlaintextLoopback}}
allow_plaintext_loopback = true
{{- else}}
# allow_plaintext_loopback = false
{{- end}}
# login throttling: see docs/configuration.md, [auth]
# max_failures_per_ip = 20             # distinct wrong passwords per address, accounts not known there
# max_failures_per_account_ip = 10     # distinct wrong passwords per (account, address)
# max_guesses_per_account_hour = 100   # per account, from networks it never signed in from
# guess_burst = 10
# failure_window = "15m"
# max_delay = "15s"                    # tarpit: 1s, 2s, 4s, ... up to this
# known_address_for = "720h"           # a network an account signed in from stays trusted 30 days
# max_verifications = 0                # argon2id checks at once (19 MiB each); 0 = max(2, CPUs)
# max_verifications_per_ip = 2

[proxy_protocol]
# PROXY protocol v1/v2 from load balancers (off unless both are set)
# trusted = []              # e.g. ["10.0.0.0/8"]
# listeners = []            # e.g. ["smtp", "imaps", "submissions"]

[outbound]
# resolver = ""             # "" = system resolver, or "192.0.2.53"
# resolver_validates = false # true only for a DNSSEC-validating resolver you trust (e.g. unbound on 127.0.0.1): enables DANE
# mta_sts = "testing"       # MTA-STS policy served for our domains: "none", "testing", "enforce"
# smarthost = ""            # "" = deliver by MX; or "smtp.provider.example:465"
# smarthost_tls = ""        # "implicit", "starttls", "none"; "" = implicit on 465, else starttls
# smarthost_user = ""
# smarthost_password = ""
# lifetime = "120h"         # retry for 5 days, then bounce
# delay_notice_after = "4h"
# max_per_domain = 4
# max_concurrent = 20
# queue_lease = "2m"        # several nodes: another node retries a dead node's message after this
# dmarc_policy = "enforce"  # inbound: "enforce", "junk" or "off"
# arc_seal = true           # ARC-seal mail that aliases and Sieve redirects forward (needs the DKIM key of the forwarding domain)
#
# [[outbound.transport]]    # a fixed next hop for one domain
# domain = "partner.example"
# next = "10.0.0.5:25"
# tls = ""                  # "" = opportunistic STARTTLS, "starttls", "implicit", "none"

[reports]
# send = false              # daily TLS-RPT and DMARC aggregate reports to other domains (docs/dns.md)

[store]
{{- if eq .Store.Backend "postgres"}}
backend = "postgres"        # index, messages and the outbound queue in PostgreSQL, shared by several nodes
dsn = {{printf "%q" .Store.DSN}}
{{- else}}
# backend = "sqlite"        # or "postgres": index and messages in PostgreSQL, shared by several nodes
# dsn = ""                  # for postgres, e.g. "postgres://youju:secret@db.example:5432/youju?sslmode=verify-full"
{{- end}}

[blobs]
# where message bytes live; see docs/architecture.md, "Blob storage"
# backend = ""              # sqlite: "files" (its own files, the only choice); postgres: "postgres" (default), "files" or "s3"
# dir = ""                  # files with postgres: one file per message here ("" = DATA/blobs; share it between nodes)
# endpoint = ""             # s3: "https://s3.example.com" (http:// only on a private network)
# bucket = ""
# access_key = ""
# secret_file = ""          # a file holding the secret key (or: secret = "...")
# region = ""
# path_style = false        # true for most self-hosted S3 servers (SeaweedFS, MinIO, Ceph)
# prefix = ""               # put before every object name, e.g. "youju/"

[spam]
# anti-spam checks of the MX port: see docs/spam.md
# dnsbl = []                # e.g. ["zen.spamhaus.org"] (read its terms of use first)
# dnsbl_action = "reject"   # "reject" (554 at MAIL FROM) or "score"
# fcrdns = true             # score clients without forward-confirmed reverse DNS
# helo = true               # score implausible HELO names
# pregreet_delay = "0s"     # e.g. "3s": wait before the banner, catch clients that talk first
# greylist = false          # RFC 6647 greylisting
# greylist_delay = "5m"
# greylist_window = "24h"
# greylist_expire = "864h"
# filter = true             # per-account learning filter (Junk moves, $Junk/$NotJunk, sent mail)
# clamd = ""                # ClamAV: "unix:/run/clamav/clamd.ctl" or "127.0.0.1:3310"
# rspamd = ""               # e.g. "http://127.0.0.1:11333"
# scanner_failure = "tempfail"  # scanner down: "tempfail" (451) or "accept"
# send_messages_hour = 200  # per account, to other domains; -1 = no limit
# send_messages_day = 1000
# send_new_rcpts_hour = 100 # addresses not written to in the last 30 days
# send_new_rcpts_day = 300
# junk_score = 5.0          # at or above: into Junk
# reject_score = 10.0       # at or above: 550 at DATA
# max_forwards = 5          # forwarding destinations per account (Sieve redirect); -1 = none
# arc_trusted_sealers = []  # e.g. ["lists.example.org"]: a passing ARC chain they sealed excuses a DMARC failure
` + acmeSRSTemplate))

// Marshal renders c as a commented youju.toml. Only the fields that init
// sets are written; the rest appear commented at their defaults.
func Marshal(c Config) []byte {
	var b bytes.Buffer
	if err := fileTemplate.Execute(&b, c); err != nil {
		panic(err) // the template and Config are fixed: a failure is a bug
	}
	return b.Bytes()
}
