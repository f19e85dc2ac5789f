package testutil

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// SCRAMClient is a minimal SCRAM-SHA-256 client (RFC 5802, RFC 7677) for
// tests of the servers: written from the RFC, independently of
// internal/auth, so that a mistake shared by both cannot pass. Passwords
// are used as given (ASCII in tests: SASLprep is the identity).
type SCRAMClient struct {
	User, Password string
	Authzid        string
	// CBFlag is the gs2-cbind-flag: "n" (default), "y", or "p=NAME".
	CBFlag string
	// CBData is the channel binding data sent with "p=".
	CBData []byte
	// Nonce is the client nonce (random if empty).
	Nonce string

	gs2, bare, authMessage string
	salted                 []byte
}

// First returns the client-first-message.
func (c *SCRAMClient) First() string {
	if c.Nonce == "" {
		b := make([]byte, 18)
		rand.Read(b)
		c.Nonce = base64.RawStdEncoding.EncodeToString(b)
	}
	flag := c.CBFlag
	if flag == "" {
		flag = "n"
	}
	c.gs2 = flag + ","
	if c.Authzid != "" {
		c.gs2 += "a=" + escapeSASLName(c.Authzid)
	}
	c.gs2 += ","
	c.bare = "n=" + escapeSASLName(c.User) + ",r=" + c.Nonce
	return c.gs2 + c.bare
}

func escapeSASLName(s string) string {
	return strings.NewReplacer("=", "=3D", ",", "=2C").Replace(s)
}

// Final answers the server-first-message with the client-final-message.
func (c *SCRAMClient) Final(serverFirst string) (string, error) {
	var nonce, salt64, iter string
	for _, a := range strings.Split(serverFirst, ",") {
		switch {
		case strings.HasPrefix(a, "r="):
			nonce = a[2:]
		case strings.HasPrefix(a, "s="):
			salt64 = a[2:]
		case strings.HasPrefix(a, "i="):
			iter = a[2:]
		}
	}
	if !strings.HasPrefix(nonce, c.Nonce) || len(nonce) == len(c.Nonce) {
		return "", fmt.Errorf("scram client: server nonce %q does not extend ours", nonce)
	}
	salt, err := base64.StdEncoding.DecodeString(salt64)
	if err != nil {
		return "", fmt.Errorf("scram client: salt: %w", err)
	}
	n, err := strconv.Atoi(iter)
	if err != nil || n < 4096 {
		return "", fmt.Errorf("scram client: iteration count %q", iter)
	}
	if c.salted, err = pbkdf2.Key(sha256.New, c.Password, salt, n, 32); err != nil {
		return "", err
	}
	cbind := []byte(c.gs2)
	if strings.HasPrefix(c.gs2, "p=") {
		cbind = append(cbind, c.CBData...)
	}
	withoutProof := "c=" + base64.StdEncoding.EncodeToString(cbind) + ",r=" + nonce
	c.authMessage = c.bare + "," + serverFirst + "," + withoutProof
	clientKey := mac(c.salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	proof := make([]byte, 32)
	subtle.XORBytes(proof, clientKey, mac(stored[:], c.authMessage))
	return withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof), nil
}

// Verify checks the server-final-message: the server proves it knows the
// ServerKey.
func (c *SCRAMClient) Verify(serverFinal string) error {
	if e, ok := strings.CutPrefix(serverFinal, "e="); ok {
		return errors.New("scram client: server error " + e)
	}
	v, ok := strings.CutPrefix(serverFinal, "v=")
	if !ok {
		return fmt.Errorf("scram client: bad server-final %q", serverFinal)
	}
	got, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return err
	}
	if !hmac.Equal(got, mac(mac(c.salted, "Server Key"), c.authMessage)) {
		return errors.New("scram client: wrong server signature")
	}
	return nil
}

func mac(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// SASLServer is the server side of a SASL exchange (go-sasl's
// sasl.Server), as auth.Authenticator.SASL returns it.
type SASLServer interface {
	Next(response []byte) (challenge []byte, done bool, err error)
}

// Exchange runs the whole SCRAM exchange against srv in process: the
// client-first message, the client-final message, the check of the
// server's signature and the empty last response.
func (c *SCRAMClient) Exchange(srv SASLServer) error {
	sf, _, err := srv.Next([]byte(c.First()))
	if err != nil {
		return err
	}
	cf, err := c.Final(string(sf))
	if err != nil {
		return err
	}
	fin, _, err := srv.Next([]byte(cf))
	if err != nil {
		return err
	}
	if err := c.Verify(string(fin)); err != nil {
		return err
	}
	_, _, err = srv.Next([]byte{})
	return err
}
