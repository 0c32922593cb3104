"""Competitor reports (issue 13): the engine behind the CLI, the console and the digests.

Public API (import from `reports`):

    build_competitor_report(engine, rules, *, start, end, brands=None, interval=None, now=None) -> dict
    recent_spikes(engine, rules, *, hours=3, brands=None, now=None) -> list[dict]   # for alerts
    resolve_period(since=None, from_=None, to=None, *, now=None) -> (start, end)
    series_rows(report) -> list[dict]      # the CSV rows: one per brand per interval
    ReportError                            # a UserError: unknown brand, bad date or interval
    EmptyPeriod(ReportError)               # no mentions of the brands in the period

The HTML renderer is `reports.html.render_html(report) -> str` (reportui).

The report (JSON; times ISO 8601 UTC with "Z"; the period is whole hours, [from, to)):

    period: {from, to, interval}            interval: hour | day | week
    generated_at, totals: {mentions, engagement}
    brands[]: one per brand asked for, in rules.yaml order
        name, competitor (bool), mentions, engagement,
        share_of_voice (0..1, of the brands in the report, by mentions),
        engagement_share (0..1, the same by likes + replies + reposts),
        net_sentiment ((pos - neg) / (pos + neg); null when both are 0),
        sentiment: {positive, neutral, negative}       (counts; unlabelled = neutral)
        platforms[]: {platform, mentions, engagement, share_of_voice, engagement_share,
                      sentiment{...}, net_sentiment}   (shares within that platform)
        drivers[]: {category, count, share, mentions, previous, previous_share, change,
                    count_change}                      (complaints = negative mentions;
                   share of the brand's negative mentions; previous = the equal-length
                   period before; change = share - previous_share)
        terms[]: {term, count, z, significant}   words/phrases distinctive of the brand's
                 negative mentions against the other brands' (weighted log-odds,
                 informative Dirichlet prior; reports/logodds.py), best z first;
                 significant = z >= 1.96
        series[]: {start, mentions, engagement, positive, neutral, negative, net_sentiment}
                  one per interval, empty intervals included
        top_posts[]: by engagement; {id, text, url, author, author_name, followers,
                     platform, created_at, engagement, reach, sentiment, categories}
        top_posts_by_reach[]: the same shape, by the author's followers
        top_authors[]: {author, name, platform, followers, mentions, engagement, negative}
                       the most followed authors who mentioned the brand in the period
    spikes[]: {brand, competitor, kind (volume | negative), start, end, peak, mentions,
               baseline, ratio, p_value,
               drivers[]: {category, count, share, baseline_share, lift},
               terms[]: {term, count, z, significant}   (the spike's posts against the brand's baseline),
               examples[]: {text, url, author, platform, created_at, engagement, sentiment}}
               (3-5 examples, most engaged first)
    care: null when no own brand is in the report, else
        {brands[], escalations, responded, first_response_median_s, first_response_p90_s,
         within_sla, breached_sla, pending, within_sla_share, by_status{},
         by_queue[]: {queue, <the same stats>}, by_category[]: {category, <the same stats>}}

Mention text in the report is verbatim: every renderer must escape it.
"""

from reports.engine import build_competitor_report, recent_spikes, series_rows
from reports.period import EmptyPeriod, ReportError, resolve_period

__all__ = ["EmptyPeriod", "ReportError", "build_competitor_report", "recent_spikes", "resolve_period", "series_rows"]
