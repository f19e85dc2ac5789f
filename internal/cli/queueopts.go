package cli

import (
	"fmt"
	"strings"

	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/delivery/queue"
	"github.com/youju/youju/internal/dnsresolver"
)

// queueOptions maps the [outbound] section of the configuration onto
// queue.Options. It lives in the CLI, the one place that wires config to
// packages, so that the queue does not depend on the configuration's
// shape. The caller adds Dir, DataDir, Hostname, Resolver (serve's, from
// outboundResolver), Logger and the local delivery hooks.
func queueOptions(o config.Outbound) (queue.Options, error) {
	if err := o.Validate(); err != nil {
		return queue.Options{}, err
	}
	opt := queue.Options{
		Lifetime:      o.Lifetime.Duration,
		DelayNotice:   o.DelayNoticeAfter.Duration,
		MaxPerDomain:  o.MaxPerDomain,
		MaxConcurrent: o.MaxConcurrent,
		Lease:         o.QueueLease.Duration,
	}
	if opt.DelayNotice == 0 {
		opt.DelayNotice = -1 // "0s" in the file: never
	}
	if o.Smarthost != "" {
		opt.Smarthost = &queue.Route{Addr: o.Smarthost, TLS: o.SmarthostMode(),
			Username: o.SmarthostUser, Password: o.SmarthostPassword}
	}
	if len(o.Transports) > 0 {
		opt.Transports = map[string]queue.Route{}
		for _, t := range o.Transports {
			opt.Transports[strings.ToLower(t.Domain)] = queue.Route{Addr: t.Next, TLS: t.TLS,
				Username: t.User, Password: t.Password, InsecureSkipVerify: t.InsecureSkipVerify}
		}
	}
	return opt, nil
}

// outboundResolver is the resolver of [outbound]: the configured server
// (or the system's), declared validating for DANE (RFC 7672) when the
// operator says it is.
func outboundResolver(o config.Outbound) (dnsresolver.Resolver, error) {
	r, err := dnsresolver.New(o.Resolver)
	if err != nil {
		return nil, fmt.Errorf("outbound.resolver: %w", err)
	}
	if o.ResolverValidates { // DANE for outbound delivery (docs/dns.md)
		if r, err = dnsresolver.NewValidating(r, o.Resolver); err != nil {
			return nil, fmt.Errorf("outbound.resolver_validates: %w", err)
		}
	}
	return r, nil
}
