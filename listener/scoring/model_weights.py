"""Learned weights of the sentiment decision layer. GENERATED: do not edit by hand.

Regenerate with `python -m listener.scoring.train` (see its docstring for the data,
folds, cross-fitting and regularisation). `TRAINING` records how these were made and
the cross-validated scores on the dev split (before: the rules alone; after: this model).
"""

FEATURES = (
    "compound",
    "pos_after",
    "neg_after",
    "cue_failure",
    "cue_waiting",
    "cue_money",
    "cue_leaving",
    "cue_escalation",
    "cue_safety",
    "cue_sarcasm",
    "cue_resolution",
    "cue_praise",
    "cue_polite",
    "cue_news",
    "cue_emoji",
    "vader_pos",
    "vader_neg",
    "open_complaint",
    "resolved",
    "q_info",
    "q_complaint",
    "stars_1",
    "stars_2",
    "stars_3",
    "stars_4",
    "stars_5",
    "exclaim",
    "qmarks",
    "caps",
    "handle",
    "hashtag",
    "length",
    "negations",
    "but",
    "number",
    "time_expr",
    "first_person",
    "second_person",
    "persistence",
    "help",
    "urgent",
)
LABELS = ("negative", "neutral", "positive")
BIAS = {
    "negative": -0.2612,
    "neutral": 0.7833,
    "positive": -0.5221,
}
WEIGHTS = {
    "negative": (
        -0.7533,  # compound
        -0.0153,  # pos_after
        -0.9867,  # neg_after
        -0.1304,  # cue_failure
        -0.4777,  # cue_waiting
        -0.1127,  # cue_money
        0.0006,  # cue_leaving
        -0.0707,  # cue_escalation
        -0.0373,  # cue_safety
        -0.0671,  # cue_sarcasm
        -0.1259,  # cue_resolution
        -0.2157,  # cue_praise
        -0.1344,  # cue_polite
        0.0,  # cue_news
        -0.0038,  # cue_emoji
        -0.0447,  # vader_pos
        0.1884,  # vader_neg
        0.1912,  # open_complaint
        -0.248,  # resolved
        -0.6177,  # q_info
        0.553,  # q_complaint
        0.1295,  # stars_1
        0.2191,  # stars_2
        -0.5208,  # stars_3
        -0.278,  # stars_4
        0.1009,  # stars_5
        -0.0073,  # exclaim
        0.0561,  # qmarks
        0.1007,  # caps
        0.0308,  # handle
        0.1002,  # hashtag
        0.1743,  # length
        0.2939,  # negations
        -0.0169,  # but
        0.5243,  # number
        0.4396,  # time_expr
        0.1913,  # first_person
        0.0641,  # second_person
        0.4954,  # persistence
        0.0633,  # help
        -0.0022,  # urgent
    ),
    "neutral": (
        -0.2503,  # compound
        -1.2627,  # pos_after
        1.1358,  # neg_after
        0.2993,  # cue_failure
        0.2878,  # cue_waiting
        0.098,  # cue_money
        -0.0141,  # cue_leaving
        -0.0098,  # cue_escalation
        0.0184,  # cue_safety
        0.0173,  # cue_sarcasm
        -0.095,  # cue_resolution
        -0.1821,  # cue_praise
        -0.2944,  # cue_polite
        0.0,  # cue_news
        -0.0123,  # cue_emoji
        -0.3441,  # vader_pos
        0.1896,  # vader_neg
        -0.4602,  # open_complaint
        -0.2123,  # resolved
        1.2699,  # q_info
        -0.0836,  # q_complaint
        -0.0724,  # stars_1
        -0.0843,  # stars_2
        0.9598,  # stars_3
        -0.1588,  # stars_4
        -0.2581,  # stars_5
        -0.0899,  # exclaim
        0.3035,  # qmarks
        -0.0102,  # caps
        -0.1131,  # handle
        -0.0681,  # hashtag
        -0.1671,  # length
        -0.2428,  # negations
        -0.2163,  # but
        -0.3705,  # number
        -0.1657,  # time_expr
        -0.543,  # first_person
        -0.0458,  # second_person
        -0.3998,  # persistence
        0.1361,  # help
        0.011,  # urgent
    ),
    "positive": (
        1.0036,  # compound
        1.278,  # pos_after
        -0.1491,  # neg_after
        -0.1689,  # cue_failure
        0.1899,  # cue_waiting
        0.0148,  # cue_money
        0.0136,  # cue_leaving
        0.0806,  # cue_escalation
        0.0188,  # cue_safety
        0.0498,  # cue_sarcasm
        0.2209,  # cue_resolution
        0.3978,  # cue_praise
        0.4288,  # cue_polite
        0.0,  # cue_news
        0.0161,  # cue_emoji
        0.3888,  # vader_pos
        -0.378,  # vader_neg
        0.269,  # open_complaint
        0.4603,  # resolved
        -0.6522,  # q_info
        -0.4694,  # q_complaint
        -0.0571,  # stars_1
        -0.1348,  # stars_2
        -0.439,  # stars_3
        0.4368,  # stars_4
        0.1572,  # stars_5
        0.0972,  # exclaim
        -0.3596,  # qmarks
        -0.0905,  # caps
        0.0823,  # handle
        -0.0322,  # hashtag
        -0.0072,  # length
        -0.0511,  # negations
        0.2332,  # but
        -0.1538,  # number
        -0.2739,  # time_expr
        0.3517,  # first_person
        -0.0183,  # second_person
        -0.0956,  # persistence
        -0.1994,  # help
        -0.0089,  # urgent
    ),
}
TRAINING = {
    "data": "split == 'dev' only: tests/data/labelled/posts.jsonl (dev) + tests/data/labelled/train_extra.jsonl",
    "n_dev": 1034,
    "n_fitted_rows": 2931,
    "dev_sha256": "53d6f6e52f73186df928491271aeaa28f9ae6920ada23c8c1415aa39e4ad5f53",
    "model": "multinomial logistic regression, L2 on weights (not intercepts), L-BFGS, mean log-loss",
    "folds": "5-fold stratified by label, sha256(seed:id) order, seeds [0, 1, 2]",
    "features": "cross-fitted: each post featurised without built-in phrases seen only in its own fold",
    "chosen": {"lambda": 0.01, "class_weight": "balanced"},
    "selection": "best CV macro-F1 among settings whose final fit passes the SANITY list",
    "sanity": [
        {"text": "terrible", "rating": None, "labels": ["negative"]},
        {"text": "awful", "rating": None, "labels": ["negative"]},
        {"text": "awful service", "rating": None, "labels": ["negative"]},
        {"text": "worst service ever", "rating": None, "labels": ["negative"]},
        {"text": "great", "rating": None, "labels": ["positive"]},
        {"text": "love it", "rating": None, "labels": ["positive"]},
        {"text": "thanks, sorted!", "rating": None, "labels": ["positive"]},
        {"text": "", "rating": 1, "labels": ["negative"]},
        {"text": "", "rating": 2, "labels": ["negative"]},
        {"text": "", "rating": 3, "labels": ["neutral"]},
        {"text": "", "rating": 4, "labels": ["positive"]},
        {"text": "", "rating": 5, "labels": ["positive"]},
        {"text": "It's fine. Nice enough.", "rating": 3, "labels": ["neutral"]},
        {"text": "Support kept me on hold for an hour.", "rating": 3, "labels": ["negative"]},
        {"text": "The store on King Street opens at 9.", "rating": None, "labels": ["neutral"]},
        {"text": "The parcel has arrived, nothing damaged", "rating": None, "labels": ["neutral", "positive"]},
    ],
    "rejected_by_sanity": [
        {
            "lambda": 0.0003,
            "class_weight": "none",
            "sanity_failures": ["Support kept me on hold for an hour.", "The parcel has arrived, nothing damaged"],
        },
        {
            "lambda": 0.001,
            "class_weight": "none",
            "sanity_failures": ["Support kept me on hold for an hour.", "The parcel has arrived, nothing damaged"],
        },
        {
            "lambda": 0.0003,
            "class_weight": "balanced",
            "sanity_failures": ["Support kept me on hold for an hour.", "The parcel has arrived, nothing damaged"],
        },
        {
            "lambda": 0.001,
            "class_weight": "balanced",
            "sanity_failures": ["Support kept me on hold for an hour.", "The parcel has arrived, nothing damaged"],
        },
        {"lambda": 0.003, "class_weight": "balanced", "sanity_failures": ["Support kept me on hold for an hour."]},
        {
            "lambda": 0.003,
            "class_weight": "none",
            "sanity_failures": [
                "Support kept me on hold for an hour.",
                "The store on King Street opens at 9.",
                "The parcel has arrived, nothing damaged",
            ],
        },
        {"lambda": 0.006, "class_weight": "balanced", "sanity_failures": ["Support kept me on hold for an hour."]},
        {
            "lambda": 0.006,
            "class_weight": "none",
            "sanity_failures": ["The store on King Street opens at 9.", "The parcel has arrived, nothing damaged"],
        },
    ],
    "cv_before_rules_cross_fitted": {"neg_precision": 0.859, "neg_recall": 0.685, "macro_f1": 0.779, "accuracy": 0.778},
    "cv_before_rules_in_sample": {"neg_precision": 0.869, "neg_recall": 0.74, "macro_f1": 0.809, "accuracy": 0.808},
    "cv_after_model_cross_fitted": {"neg_precision": 0.874, "neg_recall": 0.732, "macro_f1": 0.807, "accuracy": 0.807},
    "cv_after_model_full_lexicon": {"neg_precision": 0.882, "neg_recall": 0.776, "macro_f1": 0.83, "accuracy": 0.829},
    "dev_in_sample_before": {"neg_precision": 0.868, "neg_recall": 0.74, "macro_f1": 0.809, "accuracy": 0.808},
    "dev_in_sample_after": {"neg_precision": 0.887, "neg_recall": 0.782, "macro_f1": 0.835, "accuracy": 0.835},
    "grid": [
        {
            "lambda": 0.0003,
            "class_weight": "none",
            "neg_precision": 0.843,
            "neg_recall": 0.807,
            "macro_f1": 0.818,
            "accuracy": 0.82,
        },
        {
            "lambda": 0.001,
            "class_weight": "none",
            "neg_precision": 0.839,
            "neg_recall": 0.805,
            "macro_f1": 0.816,
            "accuracy": 0.818,
        },
        {
            "lambda": 0.003,
            "class_weight": "none",
            "neg_precision": 0.816,
            "neg_recall": 0.82,
            "macro_f1": 0.811,
            "accuracy": 0.813,
        },
        {
            "lambda": 0.006,
            "class_weight": "none",
            "neg_precision": 0.811,
            "neg_recall": 0.823,
            "macro_f1": 0.808,
            "accuracy": 0.81,
        },
        {
            "lambda": 0.01,
            "class_weight": "none",
            "neg_precision": 0.804,
            "neg_recall": 0.826,
            "macro_f1": 0.805,
            "accuracy": 0.808,
        },
        {
            "lambda": 0.03,
            "class_weight": "none",
            "neg_precision": 0.791,
            "neg_recall": 0.832,
            "macro_f1": 0.798,
            "accuracy": 0.8,
        },
        {
            "lambda": 0.1,
            "class_weight": "none",
            "neg_precision": 0.726,
            "neg_recall": 0.864,
            "macro_f1": 0.767,
            "accuracy": 0.772,
        },
        {
            "lambda": 0.0003,
            "class_weight": "balanced",
            "neg_precision": 0.879,
            "neg_recall": 0.758,
            "macro_f1": 0.816,
            "accuracy": 0.816,
        },
        {
            "lambda": 0.001,
            "class_weight": "balanced",
            "neg_precision": 0.88,
            "neg_recall": 0.749,
            "macro_f1": 0.815,
            "accuracy": 0.815,
        },
        {
            "lambda": 0.003,
            "class_weight": "balanced",
            "neg_precision": 0.879,
            "neg_recall": 0.743,
            "macro_f1": 0.814,
            "accuracy": 0.813,
        },
        {
            "lambda": 0.006,
            "class_weight": "balanced",
            "neg_precision": 0.876,
            "neg_recall": 0.736,
            "macro_f1": 0.809,
            "accuracy": 0.808,
        },
        {
            "lambda": 0.01,
            "class_weight": "balanced",
            "neg_precision": 0.874,
            "neg_recall": 0.732,
            "macro_f1": 0.807,
            "accuracy": 0.807,
        },
        {
            "lambda": 0.03,
            "class_weight": "balanced",
            "neg_precision": 0.86,
            "neg_recall": 0.714,
            "macro_f1": 0.793,
            "accuracy": 0.792,
        },
        {
            "lambda": 0.1,
            "class_weight": "balanced",
            "neg_precision": 0.84,
            "neg_recall": 0.707,
            "macro_f1": 0.78,
            "accuracy": 0.779,
        },
    ],
}
