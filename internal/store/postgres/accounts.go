package postgres

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/youju/youju/internal/store"
)

// AddDomain implements store.Accounts.
func (s *Store) AddDomain(ctx context.Context, name string) error {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" || strings.ContainsAny(name, "@ \t\r\n") {
		return store.ErrInvalidName
	}
	return s.write(ctx, func(t *tx) error {
		_, err := t.Exec(ctx, `INSERT INTO domains(name, created) VALUES($1, $2)`, name, time.Now().UnixNano())
		if isUnique(err) {
			return store.ErrExists
		}
		return err
	})
}

// DeleteDomain implements store.Accounts; it fails with store.ErrExists
// while accounts use the domain.
func (s *Store) DeleteDomain(ctx context.Context, name string) error {
	name = strings.ToLower(strings.TrimSpace(name))
	return s.write(ctx, func(t *tx) error {
		// Lock the domain first: an account created meanwhile waits.
		var n string
		if err := t.QueryRow(ctx, `SELECT name FROM domains WHERE name=$1 FOR UPDATE`, name).Scan(&n); err != nil {
			return notFound(err)
		}
		var used bool
		if err := t.QueryRow(ctx, `SELECT EXISTS(SELECT 1 FROM accounts WHERE domain=$1)`, name).Scan(&used); err != nil {
			return err
		}
		if used {
			return store.ErrExists
		}
		_, err := t.Exec(ctx, `DELETE FROM domains WHERE name=$1`, name)
		return err
	})
}

// Domains implements store.Accounts.
func (s *Store) Domains(ctx context.Context) ([]store.Domain, error) {
	rows, _ := s.pool.Query(ctx, `SELECT name, created,
		(SELECT COUNT(*) FROM accounts WHERE accounts.domain=domains.name) FROM domains ORDER BY name`)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Domain, error) {
		var d store.Domain
		var c int64
		err := r.Scan(&d.Name, &c, &d.Accounts)
		d.Created = fromNano(c)
		return d, err
	})
}

// IsLocalDomain implements store.Accounts.
func (s *Store) IsLocalDomain(ctx context.Context, name string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS(SELECT 1 FROM domains WHERE name=lower($1))`, name).Scan(&ok)
	return ok, err
}

const accountCols = `id, address, password_hash, scram, disabled, allow_imap, allow_pop3, allow_smtp,
	quota_bytes, (SELECT COALESCE(SUM(x.size), 0)::bigint FROM mailboxes x WHERE x.account_id=accounts.id),
	pop3_scope, pop3_days, pop3_delete, admin, created`

func scanAccount(r pgx.Row) (store.Account, error) {
	var a store.Account
	var created int64
	var scope, del string
	err := r.Scan(&a.ID, &a.Address, &a.PasswordHash, &a.SCRAM, &a.Disabled, &a.AllowIMAP, &a.AllowPOP3, &a.AllowSMTP,
		&a.QuotaBytes, &a.UsedBytes, &scope, &a.POP3.Days, &del, &a.Admin, &created)
	a.POP3.Scope, a.POP3.Delete = store.POP3Scope(scope), store.POP3Delete(del)
	a.Created = fromNano(created)
	return a, notFound(err)
}

// defaultPOP3 fills the POP3 options left empty: INBOX only, DELE
// expunges (RFC 1939 behaviour).
func defaultPOP3(p *store.POP3Options) {
	if p.Scope == "" {
		p.Scope = store.POP3ScopeInbox
	}
	if p.Delete == "" {
		p.Delete = store.POP3DeleteExpunge
	}
}

// CreateAccount implements store.Accounts. The account's domain is added
// to the local domains if it is not there yet.
func (s *Store) CreateAccount(ctx context.Context, a store.Account) (store.Account, error) {
	a.Address = strings.ToLower(strings.TrimSpace(a.Address))
	dom := domainOf(a.Address)
	if dom == "" || strings.IndexByte(a.Address, '@') == 0 || strings.ContainsAny(a.Address, " \t\r\n") {
		return store.Account{}, store.ErrInvalidName
	}
	defaultPOP3(&a.POP3)
	now := time.Now()
	a.Created, a.UsedBytes = now, 0
	err := s.write(ctx, func(t *tx) error {
		if _, err := t.Exec(ctx, `INSERT INTO domains(name, created) VALUES($1, $2) ON CONFLICT DO NOTHING`, dom, now.UnixNano()); err != nil {
			return err
		}
		err := t.QueryRow(ctx, `INSERT INTO accounts(address, domain, password_hash, scram, disabled, allow_imap, allow_pop3,
			allow_smtp, quota_bytes, pop3_scope, pop3_days, pop3_delete, admin, created)
			VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14) RETURNING id`,
			a.Address, dom, a.PasswordHash, a.SCRAM, a.Disabled, a.AllowIMAP, a.AllowPOP3, a.AllowSMTP,
			a.QuotaBytes, string(a.POP3.Scope), a.POP3.Days, string(a.POP3.Delete), a.Admin, now.UnixNano()).Scan(&a.ID)
		if isUnique(err) {
			return store.ErrExists
		}
		if err != nil {
			return err
		}
		if _, err := t.createMailbox(a.ID, store.InboxName, ""); err != nil {
			return err
		}
		for _, m := range store.DefaultMailboxes {
			if _, err := t.createMailbox(a.ID, m.Name, m.SpecialUse); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return store.Account{}, err
	}
	return a, nil
}

// Account implements store.Accounts.
func (s *Store) Account(ctx context.Context, address string) (store.Account, error) {
	return scanAccount(s.pool.QueryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE address=lower($1)`, strings.TrimSpace(address)))
}

// AccountByID implements store.Accounts.
func (s *Store) AccountByID(ctx context.Context, id store.AccountID) (store.Account, error) {
	return scanAccount(s.pool.QueryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE id=$1`, id))
}

// ListAccounts implements store.Accounts.
func (s *Store) ListAccounts(ctx context.Context) ([]store.Account, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+accountCols+` FROM accounts ORDER BY address`)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Account, error) { return scanAccount(r) })
}

// AccountsPage implements store.Accounts: keyset paging on the address
// index, the filter a substring test (strpos, no LIKE pattern to escape).
func (s *Store) AccountsPage(ctx context.Context, p store.AccountPage) ([]store.Account, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+accountCols+` FROM accounts
		WHERE address > $1 AND ($2 = '' OR strpos(address, lower($2)) > 0) ORDER BY address LIMIT $3`,
		p.After, p.Query, p.PageLimit())
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Account, error) { return scanAccount(r) })
}

// UpdateAccount implements store.Accounts.
func (s *Store) UpdateAccount(ctx context.Context, a store.Account) error {
	defaultPOP3(&a.POP3)
	return s.write(ctx, func(t *tx) error {
		tag, err := t.Exec(ctx, `UPDATE accounts SET password_hash=$1, scram=$2, disabled=$3, allow_imap=$4, allow_pop3=$5,
			allow_smtp=$6, quota_bytes=$7, pop3_scope=$8, pop3_days=$9, pop3_delete=$10, admin=$11 WHERE id=$12`,
			a.PasswordHash, a.SCRAM, a.Disabled, a.AllowIMAP, a.AllowPOP3, a.AllowSMTP,
			a.QuotaBytes, string(a.POP3.Scope), a.POP3.Days, string(a.POP3.Delete), a.Admin, a.ID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		return nil
	})
}

// DeleteAccount implements store.Accounts: every mailbox, message (and its
// blob reference), subscription and app password goes.
func (s *Store) DeleteAccount(ctx context.Context, id store.AccountID) error {
	return s.write(ctx, func(t *tx) error {
		var x int64
		if err := t.QueryRow(ctx, `SELECT id FROM accounts WHERE id=$1 FOR UPDATE`, id).Scan(&x); err != nil {
			return notFound(err)
		}
		rows, _ := t.Query(ctx, `SELECT id FROM mailboxes WHERE account_id=$1 ORDER BY id FOR UPDATE`, id)
		ids, err := pgx.CollectRows(rows, pgx.RowTo[store.MailboxID])
		if err != nil {
			return err
		}
		for _, mb := range ids {
			if err := t.dropMailbox(mb); err != nil {
				return err
			}
		}
		if _, err := t.Exec(ctx, `DELETE FROM accounts WHERE id=$1`, id); err != nil {
			return err
		}
		t.event(store.Event{Account: id, Mailboxes: true})
		return nil
	})
}

// SetAlias implements store.Accounts (insert or replace).
func (s *Store) SetAlias(ctx context.Context, a store.Alias) error {
	addr := strings.ToLower(strings.TrimSpace(a.Address))
	if domainOf(addr) == "" || len(a.Targets) == 0 {
		return store.ErrInvalidName
	}
	var ts []string
	for _, t := range a.Targets {
		t = strings.TrimSpace(t)
		if t == "" || strings.ContainsAny(t, "\r\n") {
			return store.ErrInvalidName
		}
		ts = append(ts, t)
	}
	return s.write(ctx, func(t *tx) error {
		_, err := t.Exec(ctx, `INSERT INTO aliases(address, targets) VALUES($1, $2)
			ON CONFLICT(address) DO UPDATE SET targets=excluded.targets`, addr, strings.Join(ts, "\n"))
		return err
	})
}

// DeleteAlias implements store.Accounts.
func (s *Store) DeleteAlias(ctx context.Context, address string) error {
	return s.write(ctx, func(t *tx) error {
		tag, err := t.Exec(ctx, `DELETE FROM aliases WHERE address=lower($1)`, strings.TrimSpace(address))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		return nil
	})
}

// Alias implements store.Accounts.
func (s *Store) Alias(ctx context.Context, address string) (store.Alias, error) {
	var a store.Alias
	var ts string
	err := s.pool.QueryRow(ctx, `SELECT address, targets FROM aliases WHERE address=lower($1)`, strings.TrimSpace(address)).Scan(&a.Address, &ts)
	if err != nil {
		return store.Alias{}, notFound(err)
	}
	a.Targets = strings.Split(ts, "\n")
	return a, nil
}

// ListAliases implements store.Accounts.
func (s *Store) ListAliases(ctx context.Context) ([]store.Alias, error) {
	rows, _ := s.pool.Query(ctx, `SELECT address, targets FROM aliases ORDER BY address`)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Alias, error) {
		var a store.Alias
		var ts string
		err := r.Scan(&a.Address, &ts)
		a.Targets = strings.Split(ts, "\n")
		return a, err
	})
}

// AddAppPassword implements store.Accounts.
func (s *Store) AddAppPassword(ctx context.Context, p store.AppPassword) (store.AppPassword, error) {
	if strings.TrimSpace(p.Name) == "" {
		return store.AppPassword{}, store.ErrInvalidName
	}
	p.Created, p.LastUsed = time.Now(), time.Time{}
	err := s.write(ctx, func(t *tx) error {
		err := t.QueryRow(ctx, `INSERT INTO app_passwords(account_id, name, hash, scram, created) VALUES($1,$2,$3,$4,$5) RETURNING id`,
			p.AccountID, p.Name, p.Hash, p.SCRAM, p.Created.UnixNano()).Scan(&p.ID)
		switch {
		case isUnique(err):
			return store.ErrExists
		case isForeignKey(err):
			return store.ErrNotFound
		}
		return err
	})
	if err != nil {
		return store.AppPassword{}, err
	}
	return p, nil
}

// AppPasswords implements store.Accounts.
func (s *Store) AppPasswords(ctx context.Context, id store.AccountID) ([]store.AppPassword, error) {
	rows, _ := s.pool.Query(ctx, `SELECT id, account_id, name, hash, scram, created, last_used
		FROM app_passwords WHERE account_id=$1 ORDER BY name`, id)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.AppPassword, error) {
		var p store.AppPassword
		var c, l int64
		err := r.Scan(&p.ID, &p.AccountID, &p.Name, &p.Hash, &p.SCRAM, &c, &l)
		p.Created, p.LastUsed = fromNano(c), fromNano(l)
		return p, err
	})
}

// DeleteAppPassword implements store.Accounts.
func (s *Store) DeleteAppPassword(ctx context.Context, id store.AccountID, name string) error {
	return s.write(ctx, func(t *tx) error {
		tag, err := t.Exec(ctx, `DELETE FROM app_passwords WHERE account_id=$1 AND name=$2`, id, name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		return nil
	})
}

// TouchAppPassword implements store.Accounts.
func (s *Store) TouchAppPassword(ctx context.Context, passwordID int64, t0 time.Time) error {
	return s.write(ctx, func(t *tx) error {
		tag, err := t.Exec(ctx, `UPDATE app_passwords SET last_used=$1 WHERE id=$2`, unixNano(t0), passwordID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		return nil
	})
}

// SetSCRAM stores the SCRAM keys of the account password (appID 0) or of
// the app password appID, only while that password's hash is still hash
// and it has no keys (auth.Options; as sqlite.Store.SetSCRAM).
func (s *Store) SetSCRAM(ctx context.Context, acct store.AccountID, appID int64, hash, scram string) error {
	return s.write(ctx, func(t *tx) error {
		var err error
		if appID == 0 {
			_, err = t.Exec(ctx, `UPDATE accounts SET scram=$1 WHERE id=$2 AND password_hash=$3 AND scram=''`, scram, acct, hash)
		} else {
			_, err = t.Exec(ctx, `UPDATE app_passwords SET scram=$1 WHERE id=$2 AND account_id=$3 AND hash=$4 AND scram=''`, scram, appID, acct, hash)
		}
		return err
	})
}

// SCRAMReady reports whether every account password and app password has
// SCRAM keys (auth.Options.SCRAMReady).
func (s *Store) SCRAMReady(ctx context.Context) (bool, error) {
	var missing bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS(SELECT 1 FROM accounts WHERE scram='')
		OR EXISTS(SELECT 1 FROM app_passwords WHERE scram='')`).Scan(&missing)
	return !missing, err
}

// RecordSignIn implements store.KnownAddresses: it upserts the prefix's
// time and drops the account's oldest prefixes beyond
// store.MaxKnownAddresses, in one transaction.
func (s *Store) RecordSignIn(ctx context.Context, acct store.AccountID, prefix netip.Prefix, at time.Time) error {
	p := prefix.Masked().String()
	return s.write(ctx, func(t *tx) error {
		_, err := t.Exec(ctx, `INSERT INTO known_addresses(account_id, prefix, last_ok) VALUES($1,$2,$3)
			ON CONFLICT(account_id, prefix) DO UPDATE SET last_ok=GREATEST(known_addresses.last_ok, excluded.last_ok)`, acct, p, unixNano(at))
		if isForeignKey(err) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = t.Exec(ctx, `DELETE FROM known_addresses WHERE account_id=$1 AND prefix NOT IN
			(SELECT prefix FROM known_addresses WHERE account_id=$1 ORDER BY last_ok DESC, prefix LIMIT $2)`,
			acct, store.MaxKnownAddresses)
		return err
	})
}

// KnownSince implements store.KnownAddresses.
func (s *Store) KnownSince(ctx context.Context, acct store.AccountID, prefix netip.Prefix, since time.Time) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS(SELECT 1 FROM known_addresses WHERE account_id=$1 AND prefix=$2 AND last_ok>=$3)`,
		acct, prefix.Masked().String(), unixNano(since)).Scan(&ok)
	return ok, err
}
