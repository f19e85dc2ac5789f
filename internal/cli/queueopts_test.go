package cli

import (
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/delivery/queue"
)

func TestQueueOptions(t *testing.T) {
	const file = `
resolver = "192.0.2.53"
smarthost = "smtp.provider.example:465"
smarthost_user = "me"
smarthost_password = "pw"
lifetime = "48h"
delay_notice_after = "0s"
max_per_domain = 2

[[transport]]
domain = "Partner.example"
next = "10.0.0.5:2525"
tls = "none"
`
	o := config.DefaultOutbound()
	md, err := toml.Decode(file, &o)
	if err != nil || len(md.Undecoded()) > 0 {
		t.Fatalf("decode: %v, undecoded %v", err, md.Undecoded())
	}
	opt, err := queueOptions(o)
	if err != nil {
		t.Fatal(err)
	}
	if opt.Smarthost == nil || opt.Smarthost.TLS != queue.TLSImplicit || opt.Smarthost.Username != "me" {
		t.Errorf("smarthost %+v", opt.Smarthost)
	}
	if r := opt.Transports["partner.example"]; r.Addr != "10.0.0.5:2525" || r.TLS != queue.TLSNone {
		t.Errorf("transport %+v", r)
	}
	if opt.Lifetime != 48*time.Hour || opt.DelayNotice >= 0 || opt.MaxPerDomain != 2 || opt.MaxConcurrent != 20 {
		t.Errorf("options %+v", opt)
	}
	for _, bad := range []string{`smarthost = "nohost"`, `dmarc_policy = "maybe"`, `lifetime = "1s"`,
		"[[transport]]\ndomain = \"a.test\"\nnext = \"x\"", "[[transport]]\ndomain = \"a.test\"\nnext = \"h:25\"\nuser = \"u\""} {
		o := config.DefaultOutbound()
		if _, err := toml.Decode(bad, &o); err != nil {
			t.Fatal(err)
		}
		if _, err := queueOptions(o); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
