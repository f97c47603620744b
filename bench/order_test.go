package bench

import "testing"

func observeAll(c *orderChecker, seqs ...uint64) {
	for _, seq := range seqs {
		c.observe(seq)
	}
}

func TestOrderCheckerInOrder(t *testing.T) {
	var c orderChecker
	observeAll(&c, 1, 2, 3, 4, 5)
	if lost := c.lost(5); lost != 0 {
		t.Errorf("lost = %d, want 0", lost)
	}
	if c.repeated != 0 || c.reordered != 0 {
		t.Errorf("repeated %d, reordered %d, want 0, 0", c.repeated, c.reordered)
	}
	if c.received != 5 {
		t.Errorf("received = %d, want 5", c.received)
	}
}

func TestOrderCheckerLoss(t *testing.T) {
	var c orderChecker
	observeAll(&c, 1, 2, 4, 5, 8)
	if lost := c.lost(10); lost != 5 { // 3, 6, 7, and 9-10 at the tail
		t.Errorf("lost(10) = %d, want 5", lost)
	}
	if lost := c.lost(8); lost != 3 {
		t.Errorf("lost(8) = %d, want 3", lost)
	}
	if c.repeated != 0 || c.reordered != 0 {
		t.Errorf("repeated %d, reordered %d, want 0, 0", c.repeated, c.reordered)
	}
	want := []seqRange{{3, 3}, {6, 7}, {9, 10}}
	got := c.missingRanges(10, 10)
	if len(got) != len(want) {
		t.Fatalf("missingRanges = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("missingRanges[%d] = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestOrderCheckerNothingReceived(t *testing.T) {
	var c orderChecker
	if lost := c.lost(7); lost != 7 {
		t.Errorf("lost(7) = %d, want 7", lost)
	}
	if lost := c.lost(0); lost != 0 {
		t.Errorf("lost(0) = %d, want 0", lost)
	}
}

func TestOrderCheckerRepeat(t *testing.T) {
	var c orderChecker
	observeAll(&c, 1, 2, 2, 3, 1, 3)
	if c.repeated != 3 {
		t.Errorf("repeated = %d, want 3", c.repeated)
	}
	if lost := c.lost(3); lost != 0 {
		t.Errorf("lost = %d, want 0", lost)
	}
	if c.reordered != 0 {
		t.Errorf("reordered = %d, want 0", c.reordered)
	}
}

func TestOrderCheckerReorder(t *testing.T) {
	var c orderChecker
	observeAll(&c, 1, 3, 2, 6, 5, 4, 7)
	if c.reordered != 3 { // 2, 5 and 4 arrived after a higher number
		t.Errorf("reordered = %d, want 3", c.reordered)
	}
	if lost := c.lost(7); lost != 0 {
		t.Errorf("lost = %d, want 0", lost)
	}
	if c.repeated != 0 {
		t.Errorf("repeated = %d, want 0", c.repeated)
	}
	if len(c.missing) != 0 {
		t.Errorf("missing = %v, want none", c.missing)
	}
}

func TestOrderCheckerReorderSplitsRange(t *testing.T) {
	var c orderChecker
	observeAll(&c, 1, 10, 5)
	if c.reordered != 1 {
		t.Errorf("reordered = %d, want 1", c.reordered)
	}
	if lost := c.lost(10); lost != 7 { // 2-4 and 6-9
		t.Errorf("lost = %d, want 7", lost)
	}
	c.observe(5)
	if c.repeated != 1 {
		t.Errorf("repeated after 5 again = %d, want 1", c.repeated)
	}
}

func TestOrderCheckerBoundedRanges(t *testing.T) {
	var c orderChecker
	// Every other number is lost, which makes one range per gap.
	last := uint64(4 * maxMissingRanges)
	for seq := uint64(1); seq <= last; seq += 2 {
		c.observe(seq)
	}
	if len(c.missing) > maxMissingRanges {
		t.Errorf("missing holds %d ranges, want at most %d", len(c.missing), maxMissingRanges)
	}
	if lost := c.lost(last); lost != last/2 {
		t.Errorf("lost = %d, want %d", lost, last/2)
	}
	// A late arrival of the newest gap is still recognised as reordered.
	c.observe(last - 2)
	if c.reordered != 1 {
		t.Errorf("reordered = %d, want 1", c.reordered)
	}
	if lost := c.lost(last); lost != last/2-1 {
		t.Errorf("lost after reorder = %d, want %d", lost, last/2-1)
	}
}
