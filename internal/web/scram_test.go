package web

import (
	"net/netip"
	"testing"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/testutil"
)

// scramLogin runs a SCRAM-SHA-256 exchange for user/pw through a.
func scramLogin(t *testing.T, a *auth.Authenticator, user, pw string) error {
	t.Helper()
	srv, err := a.SASL(t.Context(), auth.SCRAMSHA256, store.ServiceIMAP, netip.Addr{}, nil, nil)
	if err != nil {
		return err
	}
	return (&testutil.SCRAMClient{User: user, Password: pw}).Exchange(srv)
}
