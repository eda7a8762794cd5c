package store

import (
	"context"
	"testing"
	"time"

	"github.com/artifact-trust/control-plane/model"
)

// TestDeliveryPagesWithARareStatusReadABoundedNumberOfBuckets: 2,000 deliveries of
// which one is DEAD, the oldest: a page filtered on DEAD reads at most
// MaxDeliveryScan buckets and ends, empty, with a cursor to read on; the next page
// finds it.
func TestDeliveryPagesWithARareStatusReadABoundedNumberOfBuckets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := Open(ctx, Config{DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(ctx)
	const id, n = "wh_page", 2000
	now := time.Now().UTC()
	var ds []*model.WebhookDelivery
	for i := range n {
		status := model.DeliveryDelivered
		if i == 5 {
			status = model.DeliveryDead
		}
		ds = append(ds, &model.WebhookDelivery{Seq: i, EventID: "e", Action: "app_artifact.register", Status: status, Attempts: 1, CreatedAt: now})
	}
	if err := st.PutDeliveries(ctx, id, "p", ds); err != nil {
		t.Fatal(err)
	}
	if err := st.UpdateQueue(ctx, id, "p", func(q *DeliveryQueue) (bool, error) { q.NextSeq = n; return true, nil }); err != nil {
		t.Fatal(err)
	}
	page, err := st.WebhookDeliveries(ctx, id, "p", model.DeliveryDead, 10, -1)
	if err != nil {
		t.Fatal(err)
	}
	// Buckets 31 (1984..1999) down to 16 (1024..1087): 16 buckets read.
	if len(page.Items) != 0 || !page.HasNext || page.EndCursor != DeliveryID(id, 16*deliveryBucketCap) {
		t.Fatalf("first page: %d items, hasNext %v, end cursor %q; want none, more, and a cursor at delivery 1024", len(page.Items), page.HasNext, page.EndCursor)
	}
	_, before, _ := ParseDeliveryID(page.EndCursor)
	page, err = st.WebhookDeliveries(ctx, id, "p", model.DeliveryDead, 10, before)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0].Seq != 5 || page.HasNext {
		t.Fatalf("second page: %+v, hasNext %v; want delivery 5 and no more", page.Items, page.HasNext)
	}
	// Unfiltered pages are not affected: the newest 10.
	page, err = st.WebhookDeliveries(ctx, id, "p", "", 10, -1)
	if err != nil || len(page.Items) != 10 || page.Items[0].Seq != n-1 || !page.HasNext || page.EndCursor != "" {
		t.Fatalf("unfiltered page: %d items, hasNext %v, %v", len(page.Items), page.HasNext, err)
	}
}
