package cli

import (
	"net"
	"sync"

	"github.com/youju/youju/internal/metrics"
)

// protoOf maps a listener name to the metrics protocol label.
func protoOf(listener string) string {
	switch listener {
	case "smtp", "submissions", "submission":
		return metrics.ProtoSMTP
	case "imap", "imaps":
		return metrics.ProtoIMAP
	case "pop3", "pop3s":
		return metrics.ProtoPOP3
	case "managesieve":
		return "managesieve"
	}
	return metrics.ProtoHTTP
}

// countingListener counts accepted and open connections for every
// protocol in one place, so front-ends need not.
type countingListener struct {
	net.Listener
	accepted *metrics.Counter
	active   *metrics.Gauge
}

func newCountingListener(l net.Listener, name string) net.Listener {
	proto := protoOf(name)
	return &countingListener{
		Listener: l,
		accepted: metrics.Connections.With(proto, name),
		active:   metrics.ActiveConnections.With(proto),
	}
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.accepted.Inc()
	l.active.Inc()
	return &countedConn{Conn: c, active: l.active}, nil
}

type countedConn struct {
	net.Conn
	active *metrics.Gauge
	once   sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(c.active.Dec)
	return c.Conn.Close()
}
