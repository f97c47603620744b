package broker_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"tailcast/broker"
	"tailcast/internal/testenv"
)

// backends runs fn against a real redis-server and against miniredis, the
// embedded broker, because tailcast relies on both behaving alike.
func backends(t *testing.T, fn func(t *testing.T, client *redis.Client)) {
	t.Run("redis-server", func(t *testing.T) {
		server := testenv.StartRedis(t)
		fn(t, server.Client(t))
	})
	t.Run("miniredis", func(t *testing.T) {
		server := miniredis.RunT(t)
		server.RequireAuth("secret")
		client, err := broker.Connect("redis://:secret@" + server.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { client.Close() })
		fn(t, client)
	})
}

func lines(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i+1)
	}
	return out
}

func TestAppendStoresBatchAndOffset(t *testing.T) {
	backends(t, func(t *testing.T, client *redis.Client) {
		ctx := context.Background()
		b := broker.New(client, broker.Options{})
		if offset, err := b.Offset(ctx, "app"); err != nil || offset != "" {
			t.Fatalf("Offset before any append = %q, %v; want empty", offset, err)
		}

		id, err := b.Append(ctx, "app", "", []string{"one", "", "three"}, `{"off":10}`)
		if err != nil {
			t.Fatal(err)
		}
		eventID, err := b.Append(ctx, "app", "rotated", nil, `{"off":0}`)
		if err != nil {
			t.Fatal(err)
		}
		if offset, _ := b.Offset(ctx, "app"); offset != `{"off":0}` {
			t.Errorf("Offset = %q, want the last append's", offset)
		}

		entries, gap, err := b.After(ctx, "app", "0", 10)
		if err != nil {
			t.Fatal(err)
		}
		if gap {
			t.Error("After(0) reported a gap")
		}
		if len(entries) != 2 {
			t.Fatalf("got %d entries, want 2", len(entries))
		}
		if entries[0].ID != id || !slices.Equal(entries[0].Lines, []string{"one", "", "three"}) {
			t.Errorf("first entry = %+v, want id %s with the three lines, the empty one kept", entries[0], id)
		}
		if entries[1].ID != eventID || entries[1].Event != "rotated" || entries[1].Lines != nil {
			t.Errorf("second entry = %+v, want event rotated without lines", entries[1])
		}
		if last, _ := b.LastID(ctx, "app"); last != eventID {
			t.Errorf("LastID = %s, want %s", last, eventID)
		}
		if last, _ := b.LastID(ctx, "empty"); last != "0-0" {
			t.Errorf("LastID of a missing stream = %s, want 0-0", last)
		}
	})
}

func TestBacklogReturnsLastLines(t *testing.T) {
	backends(t, func(t *testing.T, client *redis.Client) {
		ctx := context.Background()
		b := broker.New(client, broker.Options{})
		for i := range 5 {
			if _, err := b.Append(ctx, "app", "", lines(fmt.Sprintf("b%d", i), 3), "x"); err != nil {
				t.Fatal(err)
			}
		}
		entries, err := b.Backlog(ctx, "app", 7)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range entries {
			got = append(got, e.Lines...)
		}
		want := []string{"b2-3", "b3-1", "b3-2", "b3-3", "b4-1", "b4-2", "b4-3"}
		if !slices.Equal(got, want) {
			t.Errorf("Backlog(7) = %q, want %q", got, want)
		}
		if all, _ := b.Backlog(ctx, "app", 100); len(all) != 5 {
			t.Errorf("Backlog(100) returned %d entries, want all 5", len(all))
		}
	})
}

func TestAfterReportsGapWhenTrimmed(t *testing.T) {
	backends(t, func(t *testing.T, client *redis.Client) {
		ctx := context.Background()
		b := broker.New(client, broker.Options{})
		var ids []string
		for i := range 10 {
			id, err := b.Append(ctx, "app", "", []string{fmt.Sprint(i)}, "x")
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}

		entries, gap, err := b.After(ctx, "app", ids[6], 100)
		if err != nil {
			t.Fatal(err)
		}
		if gap || len(entries) != 3 || entries[0].ID != ids[7] {
			t.Errorf("After(7th) = %d entries from %v, gap %v; want 3 from %s, no gap", len(entries), entries, gap, ids[7])
		}

		// Exact trimming, as MAXLEN ~ does in whole nodes on a long stream.
		if err := client.XTrimMaxLen(ctx, broker.StreamKey("app"), 4).Err(); err != nil {
			t.Fatal(err)
		}
		entries, gap, err = b.After(ctx, "app", ids[2], 100)
		if err != nil {
			t.Fatal(err)
		}
		if !gap {
			t.Error("After a trimmed id reported no gap")
		}
		if len(entries) != 4 || entries[0].ID != ids[6] {
			t.Errorf("After a trimmed id returned %d entries starting %v; want the 4 kept", len(entries), entries)
		}
	})
}

func TestReadBlocksUntilAppend(t *testing.T) {
	backends(t, func(t *testing.T, client *redis.Client) {
		ctx := context.Background()
		b := broker.New(client, broker.Options{})
		start, _ := b.LastID(ctx, "a")
		startB, _ := b.LastID(ctx, "b")

		empty, err := b.Read(ctx, map[string]string{"a": start, "b": startB}, []string{"a", "b"}, 10, 50*time.Millisecond)
		if err != nil || len(empty) != 0 {
			t.Fatalf("Read with nothing new = %v, %v; want an empty map", empty, err)
		}

		done := make(chan map[string][]broker.Entry, 1)
		go func() {
			res, err := b.Read(ctx, map[string]string{"a": start, "b": startB}, []string{"a", "b"}, 10, 10*time.Second)
			if err != nil {
				t.Error(err)
			}
			done <- res
		}()
		// XREAD BLOCK returns as soon as an entry arrives, so keep appending
		// until the reader has one; a reader that registered late still
		// sees the first append, because it reads after start.
		var appended int
		for res := (map[string][]broker.Entry)(nil); res == nil; {
			if _, err := b.Append(ctx, "b", "", []string{fmt.Sprint(appended)}, "x"); err != nil {
				t.Fatal(err)
			}
			appended++
			select {
			case res = <-done:
				if len(res["b"]) == 0 || res["b"][0].Lines[0] != "0" || len(res["a"]) != 0 {
					t.Errorf("Read = %v, want channel b starting with line 0", res)
				}
			case <-time.After(20 * time.Millisecond):
			}
			if appended > 500 {
				t.Fatal("blocked Read never returned")
			}
		}
	})
}

func TestParseIDOrders(t *testing.T) {
	cases := []struct{ a, b string }{
		{"1-0", "1-1"},
		{"1-9", "2-0"},
		{"5", "5-1"},
	}
	for _, tc := range cases {
		a, err := broker.ParseID(tc.a)
		if err != nil {
			t.Fatal(err)
		}
		b, err := broker.ParseID(tc.b)
		if err != nil {
			t.Fatal(err)
		}
		if !a.Less(b) || b.Less(a) {
			t.Errorf("%s < %s does not hold", tc.a, tc.b)
		}
	}
	for _, bad := range []string{"", "x", "1-", "-1", "1-2-3", "1-x"} {
		if _, err := broker.ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) succeeded, want an error", bad)
		}
	}
}
