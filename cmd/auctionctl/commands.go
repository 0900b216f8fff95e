package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"connectrpc.com/connect"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	"github.com/pawnshop/auction/gen/go/auction/v1/auctionv1connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// call makes a command's RPC once its flags are parsed; args are the
// positional arguments left after the flags.
type call func(ctx context.Context, c auctionv1connect.AuctionServiceClient, args []string) (proto.Message, error)

// command is one subcommand: its help and how it binds flags to a request.
type command struct {
	name    string
	args    string // positional arguments, as shown in the usage line
	summary string
	// bind defines the command's flags on fs and returns the call to make
	// after parsing, so that help and parsing share one definition.
	bind func(fs *flag.FlagSet) call
}

// usageErr is a mistake in the command line found after flag parsing (a
// missing argument, a contradictory filter); run reports it with exit 2.
type usageErr struct{ msg string }

// Error returns the message shown before the pointer to -help.
func (e usageErr) Error() string { return e.msg }

// commands lists every subcommand in the order the help shows them.
var commands = []command{
	{"add", "", "Add an item; an id is assigned when -id is not given.", bindAdd},
	{"buy", "", "Record that the shop bought an item from a client.", bindBuy},
	{"sell", "", "Record that the shop sold an item to a client.", bindSell},
	{"pawn", "", "Record that a client pawned an item with the shop.", bindPawn},
	{"get", "ID", "Fetch one item with its buys, sells and pawns.", bindGet},
	{"list", "", "Fetch items by exactly one of -name, -category or -state, one page at a time.", bindList},
}

// lookup finds a command by name.
func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// flagSet is the command's empty flag set; errors go to stderr and the
// caller prints help itself.
func (c command) flagSet(stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("auctionctl "+c.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	return fs
}

// noArgs refuses positional arguments for commands that take none.
func noArgs(args []string) error {
	if len(args) > 0 {
		return usageErr{fmt.Sprintf("unexpected argument %q (values are given as flags)", args[0])}
	}
	return nil
}

// bindAdd binds `add`: every AddItemRequest field is a flag; enums take
// their short names.
func bindAdd(fs *flag.FlagSet) call {
	r := &auctionv1.AddItemRequest{}
	fs.StringVar(&r.Id, "id", "", "item `id` to use (letters, digits, '.', '_', '-'); assigned when empty")
	fs.StringVar(&r.Name, "name", "", "item `name`, 1 to 200 characters")
	category := enumVar(fs, "category", auctionv1.Category(0).Descriptor(), "item `category`")
	fs.Int64Var(&r.PriceCents, "price-cents", 0, "price in `cents` (1999 is 19.99); above zero")
	state := enumVar(fs, "state", auctionv1.State(0).Descriptor(), "item `state`")
	age := fs.Uint("age-months", 0, "age of the item in `months`, 0 to 12000")
	return func(ctx context.Context, c auctionv1connect.AuctionServiceClient, args []string) (proto.Message, error) {
		if err := noArgs(args); err != nil {
			return nil, err
		}
		r.Category, r.State, r.AgeMonths = auctionv1.Category(category.n), auctionv1.State(state.n), uint32(*age)
		res, err := c.AddItem(ctx, connect.NewRequest(r))
		return msg(res, err)
	}
}

// action holds the flags that buy, sell and pawn share.
type action struct {
	client, item string
	price        int64
	date         timeFlag
}

// bindAction defines the flags common to buy, sell and pawn; verb says
// what the price means for that action.
func bindAction(fs *flag.FlagSet, verb string) *action {
	a := &action{}
	fs.StringVar(&a.client, "client", "", "client `id` (letters, digits, '.', '_', '@', '-')")
	fs.StringVar(&a.item, "item", "", "item `id`")
	fs.Int64Var(&a.price, "price-cents", 0, verb+" in `cents`; above zero")
	fs.Var(&a.date, "date", "`time` it happened, RFC 3339 (2026-11-01T10:00:00Z); defaults to now")
	return a
}

// bindBuy binds `buy` (BuyItem).
func bindBuy(fs *flag.FlagSet) call {
	a := bindAction(fs, "what the shop paid")
	return func(ctx context.Context, c auctionv1connect.AuctionServiceClient, args []string) (proto.Message, error) {
		if err := noArgs(args); err != nil {
			return nil, err
		}
		res, err := c.BuyItem(ctx, connect.NewRequest(&auctionv1.BuyItemRequest{
			ClientId: a.client, ItemId: a.item, PriceCents: a.price, Date: a.date.ts}))
		return msg(res, err)
	}
}

// bindSell binds `sell` (SellItem), which adds the profit.
func bindSell(fs *flag.FlagSet) call {
	a := bindAction(fs, "what the client paid")
	profit := fs.Int64("profit-cents", 0, "the shop's profit in `cents`; negative for a loss")
	return func(ctx context.Context, c auctionv1connect.AuctionServiceClient, args []string) (proto.Message, error) {
		if err := noArgs(args); err != nil {
			return nil, err
		}
		res, err := c.SellItem(ctx, connect.NewRequest(&auctionv1.SellItemRequest{
			ClientId: a.client, ItemId: a.item, PriceCents: a.price, Date: a.date.ts, ProfitCents: *profit}))
		return msg(res, err)
	}
}

// bindPawn binds `pawn` (PawnItem), which adds the fee and the redemption limit.
func bindPawn(fs *flag.FlagSet) call {
	a := bindAction(fs, "the amount lent")
	tax := fs.Int64("tax-cents", 0, "the fee for the pawn in `cents`; zero or more")
	limit := fs.Uint("limit-days", 0, "`days` the client has to redeem the item, 1 to 3650")
	return func(ctx context.Context, c auctionv1connect.AuctionServiceClient, args []string) (proto.Message, error) {
		if err := noArgs(args); err != nil {
			return nil, err
		}
		res, err := c.PawnItem(ctx, connect.NewRequest(&auctionv1.PawnItemRequest{
			ClientId: a.client, ItemId: a.item, PriceCents: a.price, Date: a.date.ts,
			TaxCents: *tax, LimitDays: uint32(*limit)}))
		return msg(res, err)
	}
}

// bindGet binds `get ID` (GetItem); the id is positional because it is the
// only thing to say.
func bindGet(fs *flag.FlagSet) call {
	return func(ctx context.Context, c auctionv1connect.AuctionServiceClient, args []string) (proto.Message, error) {
		if len(args) != 1 {
			return nil, usageErr{"want exactly one item ID"}
		}
		res, err := c.GetItem(ctx, connect.NewRequest(&auctionv1.GetItemRequest{Id: args[0]}))
		return msg(res, err)
	}
}

// bindList binds `list` (ListItems). Only flags actually given count, so
// that -name "" is an explicit (and refused) filter rather than no filter.
func bindList(fs *flag.FlagSet) call {
	name := fs.String("name", "", "items whose name is exactly `name`")
	category := enumVar(fs, "category", auctionv1.Category(0).Descriptor(), "items of this `category`")
	state := enumVar(fs, "state", auctionv1.State(0).Descriptor(), "items in this `state`")
	limit := fs.Uint("limit", 0, "page size `n`, 1 to 100 (default 10 on the server)")
	token := fs.String("page-token", "", "`token` from the previous page's nextPageToken")
	return func(ctx context.Context, c auctionv1connect.AuctionServiceClient, args []string) (proto.Message, error) {
		if err := noArgs(args); err != nil {
			return nil, err
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		r := &auctionv1.ListItemsRequest{PageToken: *token}
		filters := 0
		if set["name"] {
			r.Filter, filters = &auctionv1.ListItemsRequest_Name{Name: *name}, filters+1
		}
		if set["category"] {
			r.Filter, filters = &auctionv1.ListItemsRequest_Category{Category: auctionv1.Category(category.n)}, filters+1
		}
		if set["state"] {
			r.Filter, filters = &auctionv1.ListItemsRequest_State{State: auctionv1.State(state.n)}, filters+1
		}
		if filters != 1 {
			return nil, usageErr{"give exactly one of -name, -category or -state"}
		}
		if set["limit"] {
			r.Limit = proto.Uint32(uint32(*limit))
		}
		res, err := c.ListItems(ctx, connect.NewRequest(r))
		return msg(res, err)
	}
}

// msg unwraps a Connect response so that every command returns a message.
func msg[T any](res *connect.Response[T], err error) (proto.Message, error) {
	if err != nil {
		return nil, err
	}
	m, _ := any(res.Msg).(proto.Message)
	return m, nil
}

// timeFlag is an optional RFC 3339 timestamp flag; ts stays nil when unset,
// so the dispatcher stamps the time it accepts the call.
type timeFlag struct{ ts *timestamppb.Timestamp }

// String shows the timestamp as given, for flag defaults.
func (f *timeFlag) String() string {
	if f == nil || f.ts == nil {
		return ""
	}
	return f.ts.AsTime().Format(time.RFC3339)
}

// Set parses an RFC 3339 timestamp, the format the JSON API uses too.
func (f *timeFlag) Set(s string) error {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("want RFC 3339, such as 2026-11-01T10:00:00Z")
	}
	f.ts = timestamppb.New(t)
	return nil
}
