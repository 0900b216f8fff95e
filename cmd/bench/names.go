package main

import (
	"github.com/pawnshop/auction/internal/clustername"
	"github.com/pawnshop/auction/internal/topics"
)

// stackName is the deployment name (CLUSTER_NAME) of the stack the bench
// starts: the dev stack's default, since the bench sets none. Its topics are
// "auction.items", ..., and a worker given KAFKA_GROUP=g joins the group
// "auction.g", which is the group the harness positions and watches.
var stackName = clustername.Name{}

// eventTopics are the stack's event topics.
var eventTopics = topics.For(stackName)
