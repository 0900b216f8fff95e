package config_test

import (
	"strings"
	"testing"

	"github.com/pawnshop/auction/internal/clustername"
	"github.com/pawnshop/auction/internal/envconfig"
	"github.com/pawnshop/auction/services/worker/config"
)

// TestClusterNameNamesTheGroupAndTheDatabase: the consumer group is
// KAFKA_GROUP under CLUSTER_NAME and the database defaults to CLUSTER_NAME,
// from the environment and in a struct literal (the dev stack, tests) alike.
func TestClusterNameNamesTheGroupAndTheDatabase(t *testing.T) {
	for _, tc := range []struct {
		env           map[string]string
		group, dbName string
	}{
		{map[string]string{}, "auction.workers", "auction"},
		{map[string]string{"CLUSTER_NAME": "staging"}, "staging.workers", "staging"},
		{map[string]string{"CLUSTER_NAME": "staging", "KAFKA_GROUP": "ingest", "MONGO_DATABASE": "shop"}, "staging.ingest", "shop"},
	} {
		env := map[string]string{"AUTH_MODE": "none", "CLUSTER_TOKEN": strings.Repeat("t", 32)}
		for k, v := range tc.env {
			env[k] = v
		}
		c, err := load(env)
		if err != nil {
			t.Fatal(err)
		}
		if c.Group() != tc.group || c.Database() != tc.dbName || c.MongoDatabase != tc.dbName {
			t.Errorf("%v: group %q database %q (MongoDatabase %q), want %q and %q", tc.env, c.Group(), c.Database(), c.MongoDatabase, tc.group, tc.dbName)
		}
	}
	var zero config.Config
	if zero.Group() != "auction.workers" || zero.Database() != "auction" {
		t.Errorf("zero config: group %q database %q", zero.Group(), zero.Database())
	}
	named := config.Config{Name: clustername.MustParse("b")}
	if named.Group() != "b.workers" || named.Database() != "b" {
		t.Errorf("literal named b: group %q database %q", named.Group(), named.Database())
	}
	if _, err := load(map[string]string{"CLUSTER_NAME": "Not_A_Name"}); err == nil || !strings.Contains(err.Error(), "CLUSTER_NAME") {
		t.Errorf("a bad CLUSTER_NAME: %v", err)
	}
}

// TestUsageShowsTheDatabaseDefault: -help says MONGO_DATABASE defaults to
// CLUSTER_NAME and the group to "workers" under it.
func TestUsageShowsTheDatabaseDefault(t *testing.T) {
	l := envconfig.New(envconfig.FromMap(nil))
	config.Load(l)
	var sb strings.Builder
	l.Usage(&sb)
	for _, line := range strings.Split(sb.String(), "\n") {
		if strings.Contains(line, "MONGO_DATABASE") && !strings.Contains(line, "(default CLUSTER_NAME)") {
			t.Errorf("MONGO_DATABASE: %q", line)
		}
		if strings.Contains(line, "KAFKA_GROUP") && (!strings.Contains(line, "(default workers)") || !strings.Contains(line, "CLUSTER_NAME")) {
			t.Errorf("KAFKA_GROUP: %q", line)
		}
	}
}
