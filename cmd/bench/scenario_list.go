package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"google.golang.org/protobuf/encoding/protojson"
)

// The listing measurement: the first page of a fetch by name, category or
// state, one call at a time.
const (
	listPage   = 20
	listCalls  = 3
	listTarget = 50.0 // ms, p50
	// listSlow: a first call slower than this is measured, not a warm-up.
	listSlow = time.Second
	// listVerySlow: calls slower than this are measured twice, not
	// listCalls times (at 100,000 items FerretDB takes about 20 s a call).
	listVerySlow = 5 * time.Second
	// baselineListDB is the same query on the database alone.
	baselineListDB = "same query, DB alone"
)

// listFilter is one listing: the REST query parameter, the stored field it
// filters and a value the data set has.
type listFilter struct {
	param, field, value string
}

var listFilters = []listFilter{
	{"name", fieldItem + ".name", "Bench item 7"},
	{"category", fieldItem + ".category", auctionv1.Category_CATEGORY_MOTOR.String()},
	{"state", fieldItem + ".state", auctionv1.State_STATE_GOOD.String()},
}

// listAlone measures, on db (n items, served by the read scenario's
// workers), the first page of listPage items by name, by category and by
// state through the platform (GET /item/fetch?<filter>&limit=20), and the
// query a worker's listing runs on the database alone
// (find({"item.<f>": v}).sort({_id: 1}).limit(20), decoded as the model),
// listCalls calls each after one warm-up, one at a time. The target is the
// platform's p50 within listTarget; the ratio is the target over it.
func (b *bench) listAlone(ctx context.Context, db string, n int) error {
	b.res.Baselines[baselineListDB] = fmt.Sprintf("the query of a worker's listing sent by this program straight to the database with the driver: "+
		"find({\"item.<name|category|state>\": v}).sort({_id: 1}).limit(%d) on the items collection (indexed on item.<field>+_id), every "+
		"document decoded with internal/protobson into the item and its sorted history; %d calls one at a time (2 when a call takes over 5 s), each before the platform's "+
		"(after one warm-up when calls take under a second). "+
		"On FerretDB v1 only an _id filter is pushed down to SQLite: any other filter decodes every document of the collection in Go, "+
		"so this is the database's floor for the listing, whatever the platform does.", listPage, listCalls)
	coll := b.mongo.Database(db).Collection(itemsColl)
	for _, f := range listFilters {
		sc := &Scenario{Name: "list." + f.param, Metric: "alone", Baseline: baselineListDB, Target: 1,
			Title: fmt.Sprintf("List GET /item/fetch?%s=…&limit=%d, %d items with history: first page alone", f.param, listPage, n),
			Goal:  fmt.Sprintf("p50 ≤ %.0f ms", listTarget)}
		u := b.s.URL() + "/item/fetch?" + url.Values{f.param: {f.value}, "limit": {fmt.Sprint(listPage)}}.Encode()
		var plat, direct []time.Duration
		var platErrs, directErrs int
		kinds := map[string]int{}
		var platItems, directItems int
		// The database alone first, so that no query the platform gave up
		// on is still running in the database while it is timed.
		for k := 0; k <= listCalls; k++ {
			cctx, cancel := context.WithTimeout(ctx, readTimeout)
			t := time.Now()
			got, err := listDirect(cctx, coll, f)
			dd := time.Since(t)
			cancel()
			cctx, cancel = context.WithTimeout(ctx, readTimeout)
			t = time.Now()
			gotP, errP := b.listPlatform(cctx, u)
			dp := time.Since(t)
			cancel()
			if err := ctx.Err(); err != nil {
				return err
			}
			if k == 0 && dd < listSlow && dp < listSlow {
				continue // a warm-up, when calls are quick enough to afford one
			}
			if err != nil {
				directErrs++
			} else {
				direct = append(direct, dd)
				directItems = got
			}
			sc.Rounds = append(sc.Rounds, Round{k + 1, "baseline", callSample(dd, err)})
			if errP != nil {
				platErrs++
				kinds[errKind(errP)]++
			} else {
				plat = append(plat, dp)
				platItems = gotP
			}
			sc.Rounds = append(sc.Rounds, Round{k + 1, "platform", callSample(dp, errP)})
			if n := len(direct) + directErrs; n >= listCalls || (n >= 2 && dd > listVerySlow) {
				break // the database needs seconds per call: two calls make the p50
			}
		}
		sc.Platform, sc.BaselineResult = summarize(plat, platErrs, 0), summarize(direct, directErrs, 0)
		if len(kinds) > 0 {
			sc.Platform.ErrorKinds = kinds
		}
		sc.Platform.Note = fmt.Sprintf("%d items on the page", platItems)
		sc.BaselineResult.Note = fmt.Sprintf("%d items on the page", directItems)
		if sc.Platform.P50 > 0 {
			sc.Ratio = listTarget / sc.Platform.P50
		}
		if platErrs > 0 { // a listing that fails is not fast
			met := false
			sc.Met = &met
		}
		b.say("list by %s: platform p50 %.1f ms (%d errors), DB alone p50 %.1f ms", f.param, sc.Platform.P50, platErrs, sc.BaselineResult.P50)
		b.res.add(sc)
	}
	return nil
}

// callSample is one call's outcome as a round.
func callSample(d time.Duration, err error) Sample {
	ms := float64(d.Microseconds()) / 1000
	if err != nil {
		return Sample{Errors: 1, Seconds: d.Seconds(), ErrorKinds: map[string]int{errKind(err): 1}}
	}
	return Sample{N: 1, P50: ms, P99: ms, Seconds: d.Seconds()}
}

// listPlatform GETs one page and returns how many items it has.
func (b *bench) listPlatform(ctx context.Context, u string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	res, err := b.http.Do(req)
	if err != nil {
		return 0, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return 0, err
	}
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET: status %d", res.StatusCode)
	}
	var page struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return 0, fmt.Errorf("listing answer: %w", err)
	}
	if len(page.Items) == 0 {
		return 0, fmt.Errorf("GET: an empty page")
	}
	return len(page.Items), nil
}

// listDirect runs a worker's listing query on the database alone, decodes
// every document of the page as the model (the answer's protojson too, as
// a worker's answer is encoded), and returns how many it read.
func listDirect(ctx context.Context, coll *mongo.Collection, f listFilter) (int, error) {
	cur, err := coll.Find(ctx, bson.D{{Key: f.field, Value: f.value}},
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(listPage))
	if err != nil {
		return 0, fmt.Errorf("find by %s: %w", f.param, err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	page := &auctionv1.ListItemsResponse{}
	for cur.Next(ctx) {
		d, err := decodeItemDoc(cur.Current)
		if err != nil {
			return 0, err
		}
		page.Items = append(page.Items, d.history())
	}
	if err := cur.Err(); err != nil {
		return 0, err
	}
	if len(page.Items) == 0 {
		return 0, fmt.Errorf("find by %s: no document", f.param)
	}
	if _, err := protojson.Marshal(page); err != nil {
		return 0, err
	}
	return len(page.Items), nil
}
