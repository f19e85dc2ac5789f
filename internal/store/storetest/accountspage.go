package storetest

import (
	"fmt"
	"testing"

	"github.com/youju/youju/internal/store"
)

// testAccountsPage checks AccountsPage: keyset pages in address order
// that together list every account once, the substring filter (in any
// case, combined with the cursor), the limit's bounds and an empty page
// past the end; and the per-domain counts of Domains, which spare the
// console a listing of every account.
func testAccountsPage(t *testing.T, open Opener) {
	s := newStore(t, open)
	var want []string
	for i := range 25 {
		addr := fmt.Sprintf("user%02d@example.org", i)
		if i%5 == 0 {
			addr = fmt.Sprintf("sales%02d@example.net", i)
		}
		newAccount(t, s, addr)
	}
	all, err := s.ListAccounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range all {
		want = append(want, a.Address)
	}
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		page, err := s.AccountsPage(ctx, store.AccountPage{After: after, Limit: 7})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 7 {
			t.Fatalf("page of %d accounts with limit 7", len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, a := range page {
			if a.ID == 0 || a.Created.IsZero() {
				t.Fatalf("page account not filled: %+v", a)
			}
			got = append(got, a.Address)
		}
		after = page[len(page)-1].Address
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("pages = %v, want %v", got, want)
	}

	page, err := s.AccountsPage(ctx, store.AccountPage{Query: "SALES", Limit: 2})
	if err != nil || len(page) != 2 || page[0].Address != "sales00@example.net" || page[1].Address != "sales05@example.net" {
		t.Fatalf("filtered first page = %v, %v", addresses(page), err)
	}
	page, err = s.AccountsPage(ctx, store.AccountPage{Query: "sales", After: page[1].Address, Limit: 100})
	if err != nil || len(page) != 3 || page[0].Address != "sales10@example.net" {
		t.Fatalf("filtered next page = %v, %v", addresses(page), err)
	}
	page, err = s.AccountsPage(ctx, store.AccountPage{Query: "@example.net"})
	if err != nil || len(page) != 5 {
		t.Fatalf("filter on the domain = %v, %v", addresses(page), err)
	}
	page, err = s.AccountsPage(ctx, store.AccountPage{Query: "%"})
	if err != nil || len(page) != 0 {
		t.Fatalf("a %% is no pattern: %v, %v", addresses(page), err)
	}
	page, err = s.AccountsPage(ctx, store.AccountPage{})
	if err != nil || len(page) != 25 {
		t.Fatalf("no limit: %d accounts, %v", len(page), err)
	}
	page, err = s.AccountsPage(ctx, store.AccountPage{After: "zzz"})
	if err != nil || len(page) != 0 {
		t.Fatalf("past the end = %v, %v", addresses(page), err)
	}
	if err := s.AddDomain(ctx, "empty.example"); err != nil {
		t.Fatal(err)
	}
	ds, err := s.Domains(ctx)
	if err != nil || fmt.Sprintf("%+v", counts(ds)) != "[empty.example:0 example.net:5 example.org:20]" {
		t.Fatalf("Domains = %+v, %v", ds, err)
	}
}

func addresses(as []store.Account) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Address)
	}
	return out
}

func counts(ds []store.Domain) []string {
	var out []string
	for _, d := range ds {
		out = append(out, fmt.Sprintf("%s:%d", d.Name, d.Accounts))
	}
	return out
}
