package e2e

import (
	"github.com/pawnshop/auction/internal/clustername"
	"github.com/pawnshop/auction/internal/topics"
)

// defaultTopics are the topics of a stack started without a ClusterName:
// "auction.items", "auction.buy-actions", ..., "auction.long_term_storage".
var defaultTopics = topics.For(clustername.Name{})
