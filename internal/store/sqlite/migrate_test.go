package sqlite

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/youju/youju/internal/store"
)

// TestMigrateFromVersion1 opens an index made by the first schema (before
// any migration step) with an account and an app password in it: Open
// brings it to schemaVersion, the rows keep their meaning and the new
// SCRAM columns are empty until a password is set again.
func TestMigrateFromVersion1(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite", filepath.Join(dir, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		schema,
		`PRAGMA user_version = 1`,
		`INSERT INTO domains(name, created) VALUES('example.org', 1)`,
		`INSERT INTO accounts(address, domain, password_hash, disabled, allow_imap, allow_pop3, allow_smtp,
			quota_bytes, pop3_scope, pop3_days, pop3_delete, created)
			VALUES('old@example.org', 'example.org', '$argon2id$old', 0, 1, 1, 1, 0, 'inbox', 0, 'delete', 1)`,
		`INSERT INTO app_passwords(account_id, name, hash, created) VALUES(1, 'phone', '$argon2id$app', 1)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var v int
	if err := s.rdb.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != schemaVersion {
		t.Fatalf("user_version %d, want %d (%v)", v, schemaVersion, err)
	}
	a, err := s.Account(ctx, "old@example.org")
	if err != nil || a.PasswordHash != "$argon2id$old" || a.SCRAM != "" || !a.AllowIMAP {
		t.Fatalf("account after migration: %+v %v", a, err)
	}
	ps, err := s.AppPasswords(ctx, a.ID)
	if err != nil || len(ps) != 1 || ps[0].Hash != "$argon2id$app" || ps[0].SCRAM != "" {
		t.Fatalf("app passwords after migration: %+v %v", ps, err)
	}
	a.SCRAM = "SCRAM-SHA-256$4096:c2FsdA==$x:y"
	if err := s.UpdateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.AccountByID(ctx, a.ID); got.SCRAM != a.SCRAM || got.PasswordHash != a.PasswordHash {
		t.Fatalf("SCRAM not kept: %+v", got)
	}
	if _, err := s.AddAppPassword(ctx, store.AppPassword{AccountID: a.ID, Name: "laptop", Hash: "h", SCRAM: "k"}); err != nil {
		t.Fatal(err)
	}
}

// TestSetSCRAM: keys are written only for the password that was verified
// (same hash) and only if it has none yet.
func TestSetSCRAM(t *testing.T) {
	s, err := Open(ctx, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, err := s.CreateAccount(ctx, store.Account{Address: "a@example.org", PasswordHash: "h1"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.AddAppPassword(ctx, store.AppPassword{AccountID: a.ID, Name: "phone", Hash: "ph"})
	if err != nil {
		t.Fatal(err)
	}
	s.SetSCRAM(ctx, a.ID, 0, "other hash", "k0") // the password changed meanwhile
	if got, _ := s.AccountByID(ctx, a.ID); got.SCRAM != "" {
		t.Fatalf("written for another hash: %q", got.SCRAM)
	}
	s.SetSCRAM(ctx, a.ID, 0, "h1", "k1")
	s.SetSCRAM(ctx, a.ID, 0, "h1", "k2") // already has keys
	if got, _ := s.AccountByID(ctx, a.ID); got.SCRAM != "k1" || got.PasswordHash != "h1" {
		t.Fatalf("account keys %q", got.SCRAM)
	}
	s.SetSCRAM(ctx, a.ID+1, p.ID, "ph", "x") // another account's id
	s.SetSCRAM(ctx, a.ID, p.ID, "ph", "pk")
	if ps, _ := s.AppPasswords(ctx, a.ID); len(ps) != 1 || ps[0].SCRAM != "pk" {
		t.Fatalf("app password keys %+v", ps)
	}
}
