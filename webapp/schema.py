"""Names shared by the trained tables, the web app and its pages: defined once here.

Standard library only, so the offline build can import it without pulling in Flask, and the web
app without pulling in anything heavy.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# ---------------------------------------------------------------------------- movie pools
# movie_stats.pool: the most-rated share of movies, the rest with enough ratings, and the rest.
POPULAR = "popular"
LESS_KNOWN = "less_known"
RARE = "rare"
POOLS = (POPULAR, LESS_KNOWN, RARE)
# The result page's two sections are named after the pools they draw from.
SECTIONS = (POPULAR, LESS_KNOWN)

# ---------------------------------------------------------------------------- tables
# Tables the web app needs, with the columns it reads (a manifest may list more).
REQUIRED_TABLES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "movies": ("movie_id", "title", "year", "genres", "imdb_id", "tmdb_id", "poster_url"),
        "movie_stats": ("movie_id", "vote_count", "vote_mean", "score", "pool"),
        "popular": ("movie_id", "title", "year", "genres", "vote_count", "vote_mean", "score", "rank"),
        "als_user_factors": ("user_id",),
        "als_item_factors": ("movie_id",),
        "als_user_top": ("user_id", "movie_id", "score", "rank"),
        "als_implicit_item_factors": ("movie_id",),
        # co_raters (the evidence of a reason) is optional: a build made before it is still served,
        # its reasons without numbers
        "knn_neighbors": ("movie_id", "neighbor_id", "similarity", "rank", "kind"),
    }
)
# Tables the recommender blends in when the build has them.
OPTIONAL_TABLES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "neumf_movie_top_users": ("movie_id", "user_id", "score", "rank"),
        "neumf_user_top": ("user_id", "movie_id", "score", "rank"),
        # co_raters (a reason's evidence) is optional, as in knn_neighbors
        "ease_neighbors": ("movie_id", "neighbor_id", "weight", "rank"),
    }
)

# Tables of stage `insights` (the /insights and movie pages): optional, so that a build made
# before the stage existed is still served (the pages then say how to build them).
INSIGHT_TABLES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "ratings_by_month": ("month", "ratings", "mean_rating"),
        "genre_ratings_by_month": ("genre", "month", "ratings", "mean_rating"),
        "rating_distribution": ("rating", "ratings"),
        "genre_rating_distribution": ("genre", "rating", "ratings"),
        "ratings_per_user": ("min_ratings", "max_ratings", "users", "ratings"),
        "ratings_per_movie": ("rank", "ratings", "pool", "cumulative_share"),
        "polarising_movies": (
            "movie_id",
            "ratings",
            "mean_rating",
            "stddev",
            "low_share",
            "high_share",
            "rank",
        ),
        "weighting_effect": ("movie_id", "vote_count", "vote_mean", "score", "score_rank", "mean_rank"),
        "movie_ratings_by_year": ("movie_id", "first_year", "counts"),
        "movie_rating_histogram": ("movie_id", "counts"),
    }
)

# ---------------------------------------------------------------------------- genre colours
# Two colours (top, bottom of a gradient) per MovieLens genre: the generated SVG posters and the
# CSS cover drawn over a TMDB image that fails to load both use them.
GENRE_COLOURS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "Action": ("#b3261e", "#3b0d0a"),
        "Adventure": ("#c76b12", "#3d2006"),
        "Animation": ("#1f8a70", "#0a2e25"),
        "Children": ("#2a9d8f", "#0c302c"),
        "Comedy": ("#d4a017", "#3f3006"),
        "Crime": ("#5c5c70", "#16161f"),
        "Documentary": ("#56707d", "#172226"),
        "Drama": ("#6a4c93", "#1e1530"),
        "Fantasy": ("#7b2cbf", "#230c38"),
        "Film-Noir": ("#3a3a3a", "#0d0d0d"),
        "Horror": ("#7a0b0b", "#1a0303"),
        "IMAX": ("#1d4e89", "#08182c"),
        "Musical": ("#c2185b", "#3a071b"),
        "Mystery": ("#34495e", "#0e151c"),
        "Romance": ("#d1495b", "#3f1219"),
        "Sci-Fi": ("#0077b6", "#02233a"),
        "Thriller": ("#2f3e46", "#0b1013"),
        "War": ("#5f6f52", "#1b2017"),
        "Western": ("#a0522d", "#2e170c"),
    }
)
DEFAULT_COLOURS = ("#44475a", "#15161c")  # no genre
