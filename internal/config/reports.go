package config

// Reports configures the reports youju sends to other domains. In
// youju.toml:
//
//	[reports]
//	send = false   # daily TLS reports (RFC 8460) for our outbound sessions and
//	               # DMARC aggregate reports (RFC 7489 §7.2) for inbound mail,
//	               # to the rua= addresses the domains publish
//
// Receiving the reports other servers send (to postmaster@) is always on.
type Reports struct {
	Send bool `toml:"send"`
}
