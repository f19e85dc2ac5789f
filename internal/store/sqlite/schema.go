package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// schemaVersion is stored in PRAGMA user_version: schema is version 1 and
// each step of migrations adds one.
var schemaVersion = 1 + len(migrations)

// migrations[i] takes the index from version i+1 to i+2. A new database
// gets schema and then every step, so both paths give the same tables;
// each step runs in its own transaction. Steps only add (columns with
// defaults, tables, indexes): the meaning of existing columns never
// changes.
var migrations = []string{
	// 2: SCRAM-SHA-256 keys (RFC 5803 format, see internal/auth) beside
	// the argon2id hash of each password; '' for passwords set before.
	`ALTER TABLE accounts ADD COLUMN scram TEXT NOT NULL DEFAULT '';
	ALTER TABLE app_passwords ADD COLUMN scram TEXT NOT NULL DEFAULT '';`,
	// 3: messages expunged but still in some IMAP session's view (see
	// retain.go): the index row as it was, holding its blob reference,
	// and when it was expunged (Unix ns).
	`CREATE TABLE retained (
	mailbox_id    INTEGER NOT NULL,
	uid           INTEGER NOT NULL,
	modseq        INTEGER NOT NULL,
	sysflags      INTEGER NOT NULL,
	keywords      TEXT NOT NULL DEFAULT '',
	internal_date INTEGER NOT NULL,
	save_date     INTEGER NOT NULL,
	size          INTEGER NOT NULL,
	blob_id       INTEGER NOT NULL,
	expunged      INTEGER NOT NULL,
	PRIMARY KEY(mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX retained_expunged ON retained(expunged);`,
	// 4: networks each account signed in from (store.KnownAddresses), so
	// that login throttling never locks an owner out of them.
	`CREATE TABLE known_addresses (
		account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
		prefix     TEXT NOT NULL,
		last_ok    INTEGER NOT NULL,
		PRIMARY KEY (account_id, prefix)
	) WITHOUT ROWID;
	CREATE INDEX known_addresses_recent ON known_addresses(account_id, last_ok);`,
	// 5: the keyword lists of a mailbox's messages, for the keywords in
	// use (IMAP's FLAGS) without reading every message: a loose scan
	// seeks once per distinct list (selectstate.go). Partial: messages
	// without keywords, the most, cost nothing.
	`CREATE INDEX messages_keywords ON messages(mailbox_id, keywords) WHERE keywords != '';`,
	// 6: the position in the blob log just past the last record whose
	// index changes this database has (logrec.go); recovery redoes the
	// records after it. 0/0: before any framed segment.
	`CREATE TABLE log_applied (
		id      INTEGER PRIMARY KEY CHECK (id = 1),
		segment INTEGER NOT NULL,
		off     INTEGER NOT NULL
	);
	INSERT INTO log_applied VALUES (1, 0, 0);`,
	// web sessions (websessions.go, store.WebSessions): the cookie's
	// SHA-256, and the TOTP second factor of the web sign-in.
	`CREATE TABLE IF NOT EXISTS web_sessions (
		id         BLOB PRIMARY KEY,
		account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
		csrf       TEXT NOT NULL,
		pending    INTEGER NOT NULL DEFAULT 0,
		created    INTEGER NOT NULL,
		last_seen  INTEGER NOT NULL
	) WITHOUT ROWID;
	CREATE INDEX IF NOT EXISTS web_sessions_account ON web_sessions(account_id);
	CREATE INDEX IF NOT EXISTS web_sessions_last_seen ON web_sessions(last_seen);
	CREATE TABLE IF NOT EXISTS web_totp (
		account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
		secret     TEXT NOT NULL,
		last_step  INTEGER NOT NULL DEFAULT 0
	);`,
	// the state store (state.go, store.StateStore).
	stateSchema,
	// the admin flag of accounts (the admin console) and the admin API's
	// bearer tokens (apitokens.go, store.APITokens): only their SHA-256.
	`ALTER TABLE accounts ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
	CREATE TABLE api_tokens (
		id         INTEGER PRIMARY KEY AUTOINCREMENT,
		account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
		name       TEXT NOT NULL,
		hash       BLOB NOT NULL UNIQUE,
		created    INTEGER NOT NULL,
		last_used  INTEGER NOT NULL DEFAULT 0,
		UNIQUE(account_id, name)
	);`,
}

// schema is the index. Times are Unix nanoseconds (0 = zero time). Every
// message query goes through mailboxes.account_id, so that one account can
// never reach another's mail.
const schema = `
CREATE TABLE meta (
	k TEXT PRIMARY KEY,
	v INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE domains (
	name    TEXT PRIMARY KEY COLLATE NOCASE,
	created INTEGER NOT NULL
);

CREATE TABLE accounts (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	address       TEXT NOT NULL UNIQUE COLLATE NOCASE,
	domain        TEXT NOT NULL COLLATE NOCASE,
	password_hash TEXT NOT NULL,
	disabled      INTEGER NOT NULL,
	allow_imap    INTEGER NOT NULL,
	allow_pop3    INTEGER NOT NULL,
	allow_smtp    INTEGER NOT NULL,
	quota_bytes   INTEGER NOT NULL,
	pop3_scope    TEXT NOT NULL,
	pop3_days     INTEGER NOT NULL,
	pop3_delete   TEXT NOT NULL,
	created       INTEGER NOT NULL
);
CREATE INDEX accounts_domain ON accounts(domain);

-- targets: newline-separated addresses.
CREATE TABLE aliases (
	address TEXT PRIMARY KEY COLLATE NOCASE,
	targets TEXT NOT NULL
);

CREATE TABLE app_passwords (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name       TEXT NOT NULL,
	hash       TEXT NOT NULL,
	created    INTEGER NOT NULL,
	last_used  INTEGER NOT NULL DEFAULT 0,
	UNIQUE(account_id, name)
);

-- messages, unseen and size are maintained by the writer so that STATUS
-- never counts rows; an account's used bytes (quota) are the sum of size.
CREATE TABLE mailboxes (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	account_id    INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name          TEXT NOT NULL,
	uidvalidity   INTEGER NOT NULL,
	uidnext       INTEGER NOT NULL,
	highestmodseq INTEGER NOT NULL,
	special_use   TEXT NOT NULL DEFAULT '',
	messages      INTEGER NOT NULL DEFAULT 0,
	unseen        INTEGER NOT NULL DEFAULT 0,
	size          INTEGER NOT NULL DEFAULT 0,
	UNIQUE(account_id, name)
);

-- Subscriptions are names, not mailboxes: RFC 9051 §6.3.7 lets a name be
-- subscribed that does not exist (any more).
CREATE TABLE subscriptions (
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name       TEXT NOT NULL,
	PRIMARY KEY(account_id, name)
) WITHOUT ROWID;

-- One row per stored message body, shared by every copy (refcount). info
-- is message.Info.Marshal(), parsed once at delivery.
CREATE TABLE blobs (
	id       INTEGER PRIMARY KEY AUTOINCREMENT,
	segment  INTEGER NOT NULL,
	off      INTEGER NOT NULL,
	length   INTEGER NOT NULL,
	refcount INTEGER NOT NULL,
	info     BLOB NOT NULL
);
CREATE INDEX blobs_segment ON blobs(segment);
-- Finds unreferenced blobs without scanning the table.
CREATE INDEX blobs_dead ON blobs(id) WHERE refcount <= 0;

-- Small rows, clustered by (mailbox, uid): listing UID+FLAGS of a mailbox
-- is one range scan of this b-tree.
CREATE TABLE messages (
	mailbox_id    INTEGER NOT NULL,
	uid           INTEGER NOT NULL,
	modseq        INTEGER NOT NULL,
	sysflags      INTEGER NOT NULL,
	keywords      TEXT NOT NULL DEFAULT '',
	internal_date INTEGER NOT NULL,
	save_date     INTEGER NOT NULL,
	size          INTEGER NOT NULL,
	blob_id       INTEGER NOT NULL,
	PRIMARY KEY(mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);
-- SEARCH UNSEEN reads only the unseen messages.
CREATE INDEX messages_unseen ON messages(mailbox_id, uid) WHERE sysflags & 1 = 0;

-- Expunged UIDs with the MODSEQ of their expunge (QRESYNC VANISHED,
-- RFC 7162 §3.2.10).
CREATE TABLE tombstones (
	mailbox_id INTEGER NOT NULL,
	uid        INTEGER NOT NULL,
	modseq     INTEGER NOT NULL,
	PRIMARY KEY(mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX tombstones_modseq ON tombstones(mailbox_id, modseq);
`

// migrate creates the schema in a new database and brings an older one
// up to date.
func migrate(ctx context.Context, db *sql.DB) error {
	var v int
	if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		return fmt.Errorf("sqlite: schema: %w", err)
	}
	if v > schemaVersion {
		return fmt.Errorf("sqlite: schema version %d is newer than this program (%d)", v, schemaVersion)
	}
	if v == 0 {
		if err := migrateStep(ctx, db, schema, 1); err != nil {
			return err
		}
		v = 1
	}
	for ; v < schemaVersion; v++ {
		if err := migrateStep(ctx, db, migrations[v-1], v+1); err != nil {
			return err
		}
	}
	return nil
}

// migrateStep runs one step and sets the version it leads to.
func migrateStep(ctx context.Context, db *sql.DB, step string, to int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: schema: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, step); err != nil {
		return fmt.Errorf("sqlite: schema step to %d: %w", to, err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, to)); err != nil {
		return fmt.Errorf("sqlite: schema: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: schema: %w", err)
	}
	return nil
}
