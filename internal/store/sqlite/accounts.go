package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/youju/youju/internal/store"
)

// unixNano stores t as Unix nanoseconds, the zero time as 0.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// isConstraint reports a UNIQUE or PRIMARY KEY violation.
func isConstraint(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// insertOwned runs the INSERT of a row that belongs to an account (an app
// password, an API token) and returns its id: store.ErrExists if the
// account has one of that name, store.ErrNotFound if the account is gone.
func (w *wtx) insertOwned(q string, args ...any) (int64, error) {
	res, err := w.exec(q, args...)
	if isConstraint(err) {
		return 0, store.ErrExists
	}
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY {
		return 0, store.ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// execOne runs a statement that must change a row: store.ErrNotFound if
// none matched.
func (w *wtx) execOne(q string, args ...any) error {
	res, err := w.exec(q, args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// queryRows runs a read query and scans every row with scan.
func queryRows[T any](ctx context.Context, db *sql.DB, scan func(interface{ Scan(...any) error }) (T, error), q string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// domainOf returns the lower-case domain of an address ("" if none).
func domainOf(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(addr[i+1:])
}

// AddDomain implements store.Accounts.
func (s *Store) AddDomain(ctx context.Context, name string) error {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" || strings.ContainsAny(name, "@ \t\r\n") {
		return store.ErrInvalidName
	}
	return s.do(ctx, nil, func(w *wtx) error {
		_, err := w.exec(`INSERT INTO domains(name, created) VALUES(?, ?)`, name, time.Now().UnixNano())
		if isConstraint(err) {
			return store.ErrExists
		}
		return err
	})
}

// DeleteDomain implements store.Accounts; it fails with store.ErrExists
// while accounts use the domain.
func (s *Store) DeleteDomain(ctx context.Context, name string) error {
	return s.do(ctx, nil, func(w *wtx) error {
		var n int
		if err := w.queryRow(`SELECT COUNT(*) FROM accounts WHERE domain=?`, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return store.ErrExists
		}
		res, err := w.exec(`DELETE FROM domains WHERE name=?`, name)
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return store.ErrNotFound
		}
		return nil
	})
}

// Domains implements store.Accounts.
func (s *Store) Domains(ctx context.Context) ([]store.Domain, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT name, created,
		(SELECT COUNT(*) FROM accounts WHERE accounts.domain=domains.name) FROM domains ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ds []store.Domain
	for rows.Next() {
		var d store.Domain
		var c int64
		if err := rows.Scan(&d.Name, &c, &d.Accounts); err != nil {
			return nil, err
		}
		d.Created = fromNano(c)
		ds = append(ds, d)
	}
	return ds, rows.Err()
}

// IsLocalDomain implements store.Accounts.
func (s *Store) IsLocalDomain(ctx context.Context, name string) (bool, error) {
	var n int
	err := s.rq.QueryRowContext(ctx, `SELECT EXISTS(SELECT 1 FROM domains WHERE name=?)`, name).Scan(&n)
	return n == 1, err
}

const accountCols = `id, address, password_hash, scram, disabled, allow_imap, allow_pop3, allow_smtp,
	quota_bytes, (SELECT COALESCE(SUM(x.size), 0) FROM mailboxes x WHERE x.account_id=accounts.id), pop3_scope, pop3_days, pop3_delete, admin, created`

func scanAccount(r interface{ Scan(...any) error }) (store.Account, error) {
	var a store.Account
	var created int64
	err := r.Scan(&a.ID, &a.Address, &a.PasswordHash, &a.SCRAM, &a.Disabled, &a.AllowIMAP, &a.AllowPOP3, &a.AllowSMTP,
		&a.QuotaBytes, &a.UsedBytes, &a.POP3.Scope, &a.POP3.Days, &a.POP3.Delete, &a.Admin, &created)
	a.Created = fromNano(created)
	return a, notFound(err)
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
	err := s.do(ctx, nil, func(w *wtx) error {
		if _, err := w.exec(`INSERT OR IGNORE INTO domains(name, created) VALUES(?, ?)`, dom, now.UnixNano()); err != nil {
			return err
		}
		res, err := w.exec(`INSERT INTO accounts(address, domain, password_hash, scram, disabled, allow_imap, allow_pop3,
			allow_smtp, quota_bytes, pop3_scope, pop3_days, pop3_delete, admin, created)
			VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			a.Address, dom, a.PasswordHash, a.SCRAM, b2i(a.Disabled), b2i(a.AllowIMAP), b2i(a.AllowPOP3), b2i(a.AllowSMTP),
			a.QuotaBytes, string(a.POP3.Scope), a.POP3.Days, string(a.POP3.Delete), b2i(a.Admin), now.UnixNano())
		if isConstraint(err) {
			return store.ErrExists
		}
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		a.ID = store.AccountID(id)
		if _, err := w.createMailbox(a.ID, store.InboxName, ""); err != nil {
			return err
		}
		for _, m := range store.DefaultMailboxes {
			if _, err := w.createMailbox(a.ID, m.Name, m.SpecialUse); err != nil {
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
	return scanAccount(s.rq.QueryRowContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE address=?`, strings.TrimSpace(address)))
}

// AccountByID implements store.Accounts.
func (s *Store) AccountByID(ctx context.Context, id store.AccountID) (store.Account, error) {
	return scanAccount(s.rq.QueryRowContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE id=?`, id))
}

// ListAccounts implements store.Accounts.
func (s *Store) ListAccounts(ctx context.Context) ([]store.Account, error) {
	return queryRows(ctx, s.rdb, scanAccount, `SELECT `+accountCols+` FROM accounts ORDER BY address`)
}

// AccountsPage implements store.Accounts. The filter is a substring test
// (instr, no LIKE pattern to escape) over the rows after the cursor; the
// usage subquery of accountCols runs only for the rows returned.
func (s *Store) AccountsPage(ctx context.Context, p store.AccountPage) ([]store.Account, error) {
	return queryRows(ctx, s.rdb, scanAccount, accountsPageQuery, p.After, p.Query, strings.ToLower(p.Query), p.PageLimit())
}

// accountsPageQuery walks the address index from the cursor (plan_test.go
// checks it): a page costs its rows, however many accounts there are.
const accountsPageQuery = `SELECT ` + accountCols + ` FROM accounts
	WHERE address > ? AND (? = '' OR instr(address, ?) > 0) ORDER BY address LIMIT ?`

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

// UpdateAccount implements store.Accounts.
func (s *Store) UpdateAccount(ctx context.Context, a store.Account) error {
	defaultPOP3(&a.POP3)
	return s.do(ctx, nil, func(w *wtx) error {
		res, err := w.exec(`UPDATE accounts SET password_hash=?, scram=?, disabled=?, allow_imap=?, allow_pop3=?, allow_smtp=?,
			quota_bytes=?, pop3_scope=?, pop3_days=?, pop3_delete=?, admin=? WHERE id=?`,
			a.PasswordHash, a.SCRAM, b2i(a.Disabled), b2i(a.AllowIMAP), b2i(a.AllowPOP3), b2i(a.AllowSMTP),
			a.QuotaBytes, string(a.POP3.Scope), a.POP3.Days, string(a.POP3.Delete), b2i(a.Admin), a.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
}

// DeleteAccount implements store.Accounts: every mailbox, message (and its
// blob reference), subscription and app password goes.
func (s *Store) DeleteAccount(ctx context.Context, id store.AccountID) error {
	return s.do(ctx, nil, func(w *wtx) error {
		var n int
		if err := w.queryRow(`SELECT COUNT(*) FROM accounts WHERE id=?`, id).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return store.ErrNotFound
		}
		ids, err := w.mailboxIDs(`SELECT id FROM mailboxes WHERE account_id=?`, id)
		if err != nil {
			return err
		}
		for _, mb := range ids {
			if err := w.dropMailbox(mb); err != nil {
				return err
			}
		}
		for _, q := range []string{
			`DELETE FROM subscriptions WHERE account_id=?`,
			`DELETE FROM app_passwords WHERE account_id=?`,
			`DELETE FROM accounts WHERE id=?`,
		} {
			if _, err := w.exec(q, id); err != nil {
				return err
			}
		}
		w.event(store.Event{Account: id, Mailboxes: true})
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
	return s.do(ctx, nil, func(w *wtx) error {
		_, err := w.exec(`INSERT INTO aliases(address, targets) VALUES(?, ?)
			ON CONFLICT(address) DO UPDATE SET targets=excluded.targets`, addr, strings.Join(ts, "\n"))
		return err
	})
}

// DeleteAlias implements store.Accounts.
func (s *Store) DeleteAlias(ctx context.Context, address string) error {
	return s.do(ctx, nil, func(w *wtx) error {
		return w.execOne(`DELETE FROM aliases WHERE address=?`, strings.TrimSpace(address))
	})
}

// Alias implements store.Accounts.
func (s *Store) Alias(ctx context.Context, address string) (store.Alias, error) {
	var a store.Alias
	var ts string
	err := s.rq.QueryRowContext(ctx, `SELECT address, targets FROM aliases WHERE address=?`, strings.TrimSpace(address)).Scan(&a.Address, &ts)
	if err != nil {
		return store.Alias{}, notFound(err)
	}
	a.Targets = strings.Split(ts, "\n")
	return a, nil
}

// ListAliases implements store.Accounts.
func (s *Store) ListAliases(ctx context.Context) ([]store.Alias, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT address, targets FROM aliases ORDER BY address`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var as []store.Alias
	for rows.Next() {
		var a store.Alias
		var ts string
		if err := rows.Scan(&a.Address, &ts); err != nil {
			return nil, err
		}
		a.Targets = strings.Split(ts, "\n")
		as = append(as, a)
	}
	return as, rows.Err()
}

// AddAppPassword implements store.Accounts.
func (s *Store) AddAppPassword(ctx context.Context, p store.AppPassword) (store.AppPassword, error) {
	if strings.TrimSpace(p.Name) == "" {
		return store.AppPassword{}, store.ErrInvalidName
	}
	p.Created, p.LastUsed = time.Now(), time.Time{}
	err := s.do(ctx, nil, func(w *wtx) error {
		var err error
		p.ID, err = w.insertOwned(`INSERT INTO app_passwords(account_id, name, hash, scram, created) VALUES(?,?,?,?,?)`,
			p.AccountID, p.Name, p.Hash, p.SCRAM, p.Created.UnixNano())
		return err
	})
	if err != nil {
		return store.AppPassword{}, err
	}
	return p, nil
}

// AppPasswords implements store.Accounts.
func (s *Store) AppPasswords(ctx context.Context, id store.AccountID) ([]store.AppPassword, error) {
	return queryRows(ctx, s.rdb, scanAppPassword, `SELECT id, account_id, name, hash, scram, created, last_used
		FROM app_passwords WHERE account_id=? ORDER BY name`, id)
}

func scanAppPassword(r interface{ Scan(...any) error }) (store.AppPassword, error) {
	var p store.AppPassword
	var c, l int64
	err := r.Scan(&p.ID, &p.AccountID, &p.Name, &p.Hash, &p.SCRAM, &c, &l)
	p.Created, p.LastUsed = fromNano(c), fromNano(l)
	return p, err
}

// DeleteAppPassword implements store.Accounts.
func (s *Store) DeleteAppPassword(ctx context.Context, id store.AccountID, name string) error {
	return s.do(ctx, nil, func(w *wtx) error {
		return w.execOne(`DELETE FROM app_passwords WHERE account_id=? AND name=?`, id, name)
	})
}

// TouchAppPassword implements store.Accounts.
func (s *Store) TouchAppPassword(ctx context.Context, passwordID int64, t time.Time) error {
	return s.do(ctx, nil, func(w *wtx) error {
		return w.execOne(`UPDATE app_passwords SET last_used=? WHERE id=?`, unixNano(t), passwordID)
	})
}

// SetSCRAM stores the SCRAM keys of the account password (appID 0) or of
// the app password appID, only while that password's hash is still hash
// and it has no keys: a password changed in the meantime keeps its own.
// auth calls it to add keys to passwords set before they were kept.
func (s *Store) SetSCRAM(ctx context.Context, acct store.AccountID, appID int64, hash, scram string) error {
	return s.do(ctx, nil, func(w *wtx) error {
		var err error
		if appID == 0 {
			_, err = w.exec(`UPDATE accounts SET scram=? WHERE id=? AND password_hash=? AND scram=''`, scram, acct, hash)
		} else {
			_, err = w.exec(`UPDATE app_passwords SET scram=? WHERE id=? AND account_id=? AND hash=? AND scram=''`, scram, appID, acct, hash)
		}
		return err
	})
}

// SCRAMReady reports whether every account password and app password has
// SCRAM keys (auth.Options.SCRAMReady): passwords set before youju kept
// them have ”.
func (s *Store) SCRAMReady(ctx context.Context) (bool, error) {
	var missing bool
	err := s.rdb.QueryRowContext(ctx, `SELECT EXISTS(SELECT 1 FROM accounts WHERE scram='')
		OR EXISTS(SELECT 1 FROM app_passwords WHERE scram='')`).Scan(&missing)
	return !missing, err
}

// mailboxIDs runs a query returning mailbox ids.
func (w *wtx) mailboxIDs(q string, args ...any) ([]store.MailboxID, error) {
	rows, err := w.query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []store.MailboxID
	for rows.Next() {
		var id store.MailboxID
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
