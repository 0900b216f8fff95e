package config_test

import (
	"strings"
	"testing"

	"github.com/pawnshop/auction/internal/envconfig"
	"github.com/pawnshop/auction/services/worker/config"
)

func load(env map[string]string) (config.Config, error) {
	l := envconfig.New(envconfig.FromMap(env))
	c := config.Load(l)
	return c, l.Err()
}

func TestMongoURIIsParsedWhenTheConfigurationLoads(t *testing.T) {
	for _, v := range []string{
		"mongodb://127.0.0.1:27017",
		"mongodb://user:p%40ss@db-1:27017,db-2:27017/auction?replicaSet=rs0&w=majority",
		"mongodb+srv://user:pw@cluster0.example.com/?srvMaxHosts=2&retryWrites=true",
	} {
		if c, err := load(map[string]string{"CLUSTER_TOKEN": "t", "MONGO_URI": v}); err != nil || c.MongoURI.Reveal() != v {
			t.Errorf("%q: %q, %v", v, c.MongoURI.Reveal(), err)
		}
	}
	for _, v := range []string{
		"mongo://hunter2host",
		"mongodb://user:hunter2@",
		"mongodb://user:hunter2@db:99999",
		"mongodb://user:hun%zzter2@db",
		"mongodb://user:hunter2@db/?journal=maybe",
		"mongodb+srv://user:hunter2@cluster0.example.com:27017",
		"mongodb+srv://user:hunter2@a.example.com,b.example.com",
	} {
		// CLUSTER_TOKEN is missing too: both problems are listed at once.
		_, err := load(map[string]string{"MONGO_URI": v})
		if err == nil || !strings.Contains(err.Error(), "MONGO_URI: not a MongoDB connection string") || !strings.Contains(err.Error(), "CLUSTER_TOKEN:") {
			t.Errorf("%q: want MONGO_URI listed with CLUSTER_TOKEN, got %v", v, err)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "hun%zzter2") {
			t.Errorf("%q: the error leaks the password: %v", v, err)
		}
	}
}
