"""Attribution drift: how far a window's feature ranking moved from the baseline's."""

from explainops.drift.ndcg import RankChange, ndcg, rank_changes, ranked_features

__all__ = ["RankChange", "ndcg", "rank_changes", "ranked_features"]
