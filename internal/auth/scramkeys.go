package auth

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/youju/youju/internal/store"
)

// SCRAM key parameters. RFC 7677 §4: the iteration count of SCRAM-SHA-256
// is at least 4096. The count costs the client (it runs PBKDF2 at each
// login) and the server only when a password is set, so we take the
// minimum, as Dovecot does: phones log in often.
const (
	scramIterations    = 4096
	minSCRAMIterations = 4096
	maxSCRAMIterations = 1 << 20 // bounds what a corrupted row makes a client spend
	scramSaltLen       = 16
	scramKeyLen        = sha256.Size
)

// scramKeys are the SCRAM-SHA-256 secrets of one password (RFC 5802 §3):
// the server never keeps the password or SaltedPassword, only StoredKey
// (verifies the client's proof) and ServerKey (proves the server to the
// client).
type scramKeys struct {
	iter      int
	salt      []byte
	storedKey []byte
	serverKey []byte
}

// scramPrefix starts the RFC 5803 representation of SCRAM-SHA-256 keys.
const scramPrefix = "SCRAM-SHA-256$"

// String returns k in the format of RFC 5803 §3 (as LDAP's authPassword
// and Dovecot keep them): SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>,
// base64 with padding.
func (k scramKeys) String() string {
	e := base64.StdEncoding
	return scramPrefix + strconv.Itoa(k.iter) + ":" + e.EncodeToString(k.salt) + "$" +
		e.EncodeToString(k.storedKey) + ":" + e.EncodeToString(k.serverKey)
}

// parseSCRAMKeys reads the RFC 5803 format of String.
func parseSCRAMKeys(s string) (scramKeys, error) {
	var k scramKeys
	rest, ok := strings.CutPrefix(s, scramPrefix)
	params, keys, ok2 := strings.Cut(rest, "$")
	iter, salt, ok3 := strings.Cut(params, ":")
	stored, server, ok4 := strings.Cut(keys, ":")
	if !ok || !ok2 || !ok3 || !ok4 {
		return k, errors.New("auth: not SCRAM-SHA-256 keys")
	}
	var err error
	if k.iter, err = strconv.Atoi(iter); err != nil || k.iter < minSCRAMIterations || k.iter > maxSCRAMIterations {
		return k, errors.New("auth: SCRAM iteration count out of range")
	}
	e := base64.StdEncoding
	k.salt, err = e.DecodeString(salt)
	if err != nil || len(k.salt) == 0 || len(k.salt) > 64 {
		return k, errors.New("auth: bad SCRAM salt")
	}
	k.storedKey, err = e.DecodeString(stored)
	if err != nil || len(k.storedKey) != scramKeyLen {
		return k, errors.New("auth: bad SCRAM StoredKey")
	}
	k.serverKey, err = e.DecodeString(server)
	if err != nil || len(k.serverKey) != scramKeyLen {
		return k, errors.New("auth: bad SCRAM ServerKey")
	}
	return k, nil
}

// deriveSCRAMKeys computes the keys of pw (RFC 5802 §3):
//
//	SaltedPassword := Hi(Normalize(password), salt, i)   (PBKDF2, RFC 8018)
//	ClientKey      := HMAC(SaltedPassword, "Client Key")
//	StoredKey      := H(ClientKey)
//	ServerKey      := HMAC(SaltedPassword, "Server Key")
func deriveSCRAMKeys(pw string, salt []byte, iter int) (scramKeys, error) {
	norm, err := saslPrep(pw, true)
	if err != nil {
		return scramKeys{}, err
	}
	salted, err := pbkdf2.Key(sha256.New, norm, salt, iter, scramKeyLen)
	if err != nil {
		return scramKeys{}, fmt.Errorf("auth: PBKDF2: %w", err)
	}
	clientKey := hmacSHA256(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	return scramKeys{iter: iter, salt: salt, storedKey: stored[:], serverKey: hmacSHA256(salted, "Server Key")}, nil
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// accountSalt returns the SCRAM salt and iteration count that a new
// password of the account must use: those of its existing keys, main
// password first. Every password of an account (the main one and each app
// password) shares one salt because the server names the salt in its
// server-first-message, before the client's proof says which password the
// client knows (RFC 5802 §3, §5); with one salt, one exchange can be checked
// against every key of the account. Salts are still unique per account, which
// is what defeats precomputed tables; an app password is 16 random
// characters, so sharing gives a stolen database no useful shortcut.
func accountSalt(acct store.Account, apps []store.AppPassword) ([]byte, int, error) {
	if k, err := parseSCRAMKeys(acct.SCRAM); err == nil {
		return k.salt, k.iter, nil
	}
	for _, p := range apps {
		if k, err := parseSCRAMKeys(p.SCRAM); err == nil {
			return k.salt, k.iter, nil
		}
	}
	salt := make([]byte, scramSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, 0, fmt.Errorf("auth: salt: %w", err)
	}
	return salt, scramIterations, nil
}

// secrets returns the argon2id hash of pw and its SCRAM keys with the
// account's salt. A password that SASLprep refuses (control characters,
// RFC 4013 §2.3) gets no SCRAM keys: no client could send it either, and
// PLAIN still works.
func secrets(pw string, acct store.Account, apps []store.AppPassword) (hash, scram string, err error) {
	if hash, err = HashPassword(pw); err != nil {
		return "", "", err
	}
	salt, iter, err := accountSalt(acct, apps)
	if err != nil {
		return "", "", err
	}
	k, err := deriveSCRAMKeys(pw, salt, iter)
	if errors.Is(err, errSASLprep) {
		return hash, "", nil
	}
	if err != nil {
		return "", "", err
	}
	return hash, k.String(), nil
}

// SetPassword sets the password of acct (not stored: the caller creates or
// updates the account): its argon2id hash for PLAIN, LOGIN and the web,
// and its SCRAM-SHA-256 keys. apps are the account's app passwords (nil
// for a new account): the new keys share their salt (see accountSalt).
func SetPassword(acct *store.Account, apps []store.AppPassword, pw string) error {
	hash, scram, err := secrets(pw, *acct, apps)
	if err != nil {
		return err
	}
	acct.PasswordHash, acct.SCRAM = hash, scram
	return nil
}

// NewAppPassword returns the app password named name with password pw for
// acct, ready for store.Accounts.AddAppPassword (the caller sets Created).
// apps are the account's existing app passwords.
func NewAppPassword(acct store.Account, apps []store.AppPassword, name, pw string) (store.AppPassword, error) {
	hash, scram, err := secrets(pw, acct, apps)
	if err != nil {
		return store.AppPassword{}, err
	}
	return store.AppPassword{AccountID: acct.ID, Name: name, Hash: hash, SCRAM: scram}, nil
}

// upgradeSCRAM gives SCRAM keys to a password set before youju kept them,
// at a successful login that has the password in hand (PLAIN, LOGIN, the
// settings page). Without it, a client that takes the strongest mechanism
// offered (mbsync and mutt through Cyrus SASL) would fail with SCRAM where
// PLAIN worked before the upgrade. It runs once per password, under the
// account's lock and on fresh rows, so that every key of the account gets
// the same salt (accountSalt); the store writes only if the password is
// still the one just verified and still has no keys. Best effort: a
// failure leaves PLAIN working and the next login tries again.
func (a *Authenticator) upgradeSCRAM(ctx context.Context, id store.AccountID, appID int64, pw string) {
	if a.opt.SetSCRAM == nil {
		return
	}
	if _, err := saslPrep(pw, true); err != nil {
		return // no client could use SCRAM with it; and no lock for nothing
	}
	mu := &a.upgradeMu[uint64(id)%uint64(len(a.upgradeMu))]
	mu.Lock()
	defer mu.Unlock()
	acct, err := a.accts.AccountByID(ctx, id)
	if err != nil {
		return
	}
	apps, err := a.accts.AppPasswords(ctx, id)
	if err != nil {
		return
	}
	hash, keys := acct.PasswordHash, acct.SCRAM
	if appID != 0 {
		hash = ""
		for _, p := range apps {
			if p.ID == appID {
				hash, keys = p.Hash, p.SCRAM
			}
		}
	}
	// Usually served from the cache: the password was just verified.
	v := &verifier{a: a, ctx: ctx}
	defer v.done()
	if hash == "" || keys != "" || !a.check(v, acct.Address, hash, pw) {
		return // gone, upgraded meanwhile, or changed
	}
	salt, iter, err := accountSalt(acct, apps)
	if err != nil {
		return
	}
	k, err := deriveSCRAMKeys(pw, salt, iter)
	if err != nil {
		return // SASLprep refuses it: no client could use SCRAM with it
	}
	if a.opt.SetSCRAM(ctx, id, appID, hash, k.String()) == nil {
		a.scramChanged()
	}
}
