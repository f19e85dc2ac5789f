package queue

import (
	"strings"

	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/dnsresolver"
)

// ConfigOptions maps the [outbound] section of the configuration onto
// Options. The caller adds Dir, DataDir, Hostname, Logger and the local
// delivery hooks.
func ConfigOptions(o config.Outbound) (Options, error) {
	if err := o.Validate(); err != nil {
		return Options{}, err
	}
	r, err := dnsresolver.New(o.Resolver)
	if err != nil {
		return Options{}, err
	}
	opt := Options{
		Resolver:      r,
		Lifetime:      o.Lifetime.Duration,
		DelayNotice:   o.DelayNoticeAfter.Duration,
		MaxPerDomain:  o.MaxPerDomain,
		MaxConcurrent: o.MaxConcurrent,
	}
	if opt.DelayNotice == 0 {
		opt.DelayNotice = -1 // "0s" in the file: never
	}
	if o.Smarthost != "" {
		opt.Smarthost = &Route{Addr: o.Smarthost, TLS: o.SmarthostMode(),
			Username: o.SmarthostUser, Password: o.SmarthostPassword}
	}
	if len(o.Transports) > 0 {
		opt.Transports = map[string]Route{}
		for _, t := range o.Transports {
			opt.Transports[strings.ToLower(t.Domain)] = Route{Addr: t.Next, TLS: t.TLS,
				Username: t.User, Password: t.Password, InsecureSkipVerify: t.InsecureSkipVerify}
		}
	}
	return opt, nil
}
