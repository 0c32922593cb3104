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
    "negative": -0.6378,
    "neutral": 0.6955,
    "positive": -0.0576,
}
WEIGHTS = {
    "negative": (
        -0.5284,  # compound
        0.5237,  # pos_after
        -2.5467,  # neg_after
        0.1732,  # cue_failure
        -1.5354,  # cue_waiting
        0.7954,  # cue_money
        -0.2429,  # cue_leaving
        -0.6599,  # cue_escalation
        -0.2028,  # cue_safety
        -0.455,  # cue_sarcasm
        -0.4605,  # cue_resolution
        -0.0524,  # cue_praise
        -0.6181,  # cue_polite
        0.0,  # cue_news
        -0.5396,  # cue_emoji
        -0.5829,  # vader_pos
        0.3445,  # vader_neg
        0.1665,  # open_complaint
        -0.9646,  # resolved
        -1.5971,  # q_info
        1.2135,  # q_complaint
        0.5077,  # stars_1
        1.4859,  # stars_2
        -0.602,  # stars_3
        -0.7952,  # stars_4
        0.0078,  # stars_5
        -0.5967,  # exclaim
        -0.1189,  # qmarks
        0.4569,  # caps
        -0.3744,  # handle
        0.275,  # hashtag
        -0.1407,  # length
        0.8224,  # negations
        -0.096,  # but
        0.5895,  # number
        0.7051,  # time_expr
        1.9207,  # first_person
        0.037,  # second_person
        1.5408,  # persistence
        0.1759,  # help
        0.025,  # urgent
    ),
    "neutral": (
        -0.2764,  # compound
        -2.4798,  # pos_after
        2.8704,  # neg_after
        -0.1449,  # cue_failure
        0.6912,  # cue_waiting
        0.0446,  # cue_money
        0.0633,  # cue_leaving
        0.1694,  # cue_escalation
        0.0347,  # cue_safety
        0.08,  # cue_sarcasm
        -0.2041,  # cue_resolution
        -0.8055,  # cue_praise
        -1.101,  # cue_polite
        0.0,  # cue_news
        -0.1707,  # cue_emoji
        0.5232,  # vader_pos
        0.6011,  # vader_neg
        -0.6753,  # open_complaint
        -0.3185,  # resolved
        2.088,  # q_info
        0.1556,  # q_complaint
        -0.1971,  # stars_1
        -0.131,  # stars_2
        1.8961,  # stars_3
        -0.218,  # stars_4
        -0.5742,  # stars_5
        -0.974,  # exclaim
        0.739,  # qmarks
        -0.2999,  # caps
        -0.0093,  # handle
        -0.1782,  # hashtag
        0.8196,  # length
        -0.5261,  # negations
        -0.4119,  # but
        -0.2007,  # number
        -0.2758,  # time_expr
        -2.0102,  # first_person
        0.0206,  # second_person
        -0.6416,  # persistence
        0.1924,  # help
        0.2865,  # urgent
    ),
    "positive": (
        0.8048,  # compound
        1.9561,  # pos_after
        -0.3237,  # neg_after
        -0.0283,  # cue_failure
        0.8441,  # cue_waiting
        -0.84,  # cue_money
        0.1796,  # cue_leaving
        0.4906,  # cue_escalation
        0.1681,  # cue_safety
        0.375,  # cue_sarcasm
        0.6646,  # cue_resolution
        0.8579,  # cue_praise
        1.7191,  # cue_polite
        0.0,  # cue_news
        0.7103,  # cue_emoji
        0.0597,  # vader_pos
        -0.9456,  # vader_neg
        0.5089,  # open_complaint
        1.283,  # resolved
        -0.4908,  # q_info
        -1.3691,  # q_complaint
        -0.3106,  # stars_1
        -1.3549,  # stars_2
        -1.2941,  # stars_3
        1.0132,  # stars_4
        0.5664,  # stars_5
        1.5708,  # exclaim
        -0.6201,  # qmarks
        -0.157,  # caps
        0.3837,  # handle
        -0.0968,  # hashtag
        -0.6789,  # length
        -0.2963,  # negations
        0.5079,  # but
        -0.3888,  # number
        -0.4293,  # time_expr
        0.0895,  # first_person
        -0.0577,  # second_person
        -0.8992,  # persistence
        -0.3684,  # help
        -0.3116,  # urgent
    ),
}
TRAINING = {
    "data": "tests/data/labelled/posts.jsonl, split == 'dev' only",
    "n_dev": 380,
    "n_fitted_rows": 1074,
    "dev_sha256": "f473c1e7ba310f10eda97a0469e4cc62019016db8a3044e355749d4f2e26ae86",
    "model": "multinomial logistic regression, L2 on weights (not intercepts), L-BFGS, mean log-loss",
    "folds": "5-fold stratified by label, sha256(seed:id) order, seeds [0, 1, 2]",
    "features": "cross-fitted: each post featurised without built-in phrases seen only in its own fold",
    "chosen": {"lambda": 0.001, "class_weight": "balanced"},
    "cv_before_rules_cross_fitted": {"neg_precision": 0.887, "neg_recall": 0.717, "macro_f1": 0.8, "accuracy": 0.801},
    "cv_before_rules_in_sample": {"neg_precision": 0.953, "neg_recall": 0.898, "macro_f1": 0.917, "accuracy": 0.918},
    "cv_after_model_cross_fitted": {"neg_precision": 0.886, "neg_recall": 0.797, "macro_f1": 0.833, "accuracy": 0.836},
    "cv_after_model_full_lexicon": {"neg_precision": 0.922, "neg_recall": 0.892, "macro_f1": 0.901, "accuracy": 0.903},
    "dev_in_sample_before": {"neg_precision": 0.952, "neg_recall": 0.898, "macro_f1": 0.917, "accuracy": 0.918},
    "dev_in_sample_after": {"neg_precision": 0.952, "neg_recall": 0.909, "macro_f1": 0.925, "accuracy": 0.926},
    "grid": [
        {
            "lambda": 0.0003,
            "class_weight": "none",
            "neg_precision": 0.83,
            "neg_recall": 0.842,
            "macro_f1": 0.82,
            "accuracy": 0.825,
        },
        {
            "lambda": 0.001,
            "class_weight": "none",
            "neg_precision": 0.834,
            "neg_recall": 0.837,
            "macro_f1": 0.821,
            "accuracy": 0.826,
        },
        {
            "lambda": 0.003,
            "class_weight": "none",
            "neg_precision": 0.846,
            "neg_recall": 0.833,
            "macro_f1": 0.828,
            "accuracy": 0.832,
        },
        {
            "lambda": 0.01,
            "class_weight": "none",
            "neg_precision": 0.816,
            "neg_recall": 0.833,
            "macro_f1": 0.815,
            "accuracy": 0.818,
        },
        {
            "lambda": 0.03,
            "class_weight": "none",
            "neg_precision": 0.771,
            "neg_recall": 0.88,
            "macro_f1": 0.8,
            "accuracy": 0.807,
        },
        {
            "lambda": 0.1,
            "class_weight": "none",
            "neg_precision": 0.701,
            "neg_recall": 0.913,
            "macro_f1": 0.752,
            "accuracy": 0.766,
        },
        {
            "lambda": 0.0003,
            "class_weight": "balanced",
            "neg_precision": 0.893,
            "neg_recall": 0.795,
            "macro_f1": 0.831,
            "accuracy": 0.834,
        },
        {
            "lambda": 0.001,
            "class_weight": "balanced",
            "neg_precision": 0.886,
            "neg_recall": 0.797,
            "macro_f1": 0.833,
            "accuracy": 0.836,
        },
        {
            "lambda": 0.003,
            "class_weight": "balanced",
            "neg_precision": 0.897,
            "neg_recall": 0.784,
            "macro_f1": 0.833,
            "accuracy": 0.835,
        },
        {
            "lambda": 0.01,
            "class_weight": "balanced",
            "neg_precision": 0.893,
            "neg_recall": 0.769,
            "macro_f1": 0.827,
            "accuracy": 0.829,
        },
        {
            "lambda": 0.03,
            "class_weight": "balanced",
            "neg_precision": 0.88,
            "neg_recall": 0.759,
            "macro_f1": 0.816,
            "accuracy": 0.817,
        },
        {
            "lambda": 0.1,
            "class_weight": "balanced",
            "neg_precision": 0.876,
            "neg_recall": 0.735,
            "macro_f1": 0.802,
            "accuracy": 0.802,
        },
    ],
}
