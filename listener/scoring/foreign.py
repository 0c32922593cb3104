"""Keyword scoring for Spanish, French and German posts (VADER is English-only).

Honest, limited support: a small hand-written complaint/praise lexicon per language,
negated forms written out as phrases ("no funciona", "ne fonctionne pas",
"funktioniert nicht"), emoji and star ratings. No grammar, no sarcasm. A post with no
matching cue is neutral and says why in its reasons. Languages without a lexicon are
not scored at all (`language_supported=False`, see `scorer`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from listener.scoring.lexicon import EMOJI
from listener.scoring.matcher import PhraseMatcher
from listener.scoring.types import Sentiment

ES: dict[str, float] = {
    "no funciona": -2.3, "no va": -1.8, "sin servicio": -2.2, "sin señal": -2.2,
    "sin internet": -2.2, "sin luz": -2.2, "sin agua": -2.2, "caído": -1.8, "caída": -1.8,
    "cancelado": -1.8, "cancelaron": -2.0, "retraso": -2.0, "retrasado": -2.0, "demora": -1.8,
    "sigo esperando": -2.3, "esperando": -1.5, "desde hace": -1.2, "nadie": -1.5,
    "nadie responde": -2.3, "nadie contesta": -2.3, "nadie informa": -2.3,
    "sin respuesta": -2.3, "ninguna respuesta": -2.3, "no contestan": -2.3,
    "dos veces": -1.5, "me cobraron": -1.8, "cobro": -1.0, "reembolso": -1.2,
    "devolución": -1.0, "sin reembolso": -2.5, "estafa": -2.8, "fraude": -2.5,
    "pésimo": -3.0, "pésima": -3.0, "horrible": -2.8, "terrible": -2.8, "fatal": -2.5,
    "vergüenza": -2.5, "queja": -1.8, "reclamación": -1.8, "denuncia": -2.0,
    "abogado": -2.0, "perdido": -1.8, "perdieron": -2.0, "roto": -2.0, "dañado": -2.0,
    "equivocado": -1.8, "incorrecto": -1.8, "nunca llegó": -2.5, "no ha llegado": -2.3,
    "no llegó": -2.3, "todavía no": -1.8, "aún no": -1.8, "otra vez": -1.2, "de nuevo": -0.8,
    "harto": -2.3, "harta": -2.3, "inaceptable": -2.5, "lamentable": -2.5,
    "desastre": -2.8, "peor": -2.5, "mal": -1.5, "malo": -1.8, "mala": -1.8,
    "gracias": 1.5, "muchas gracias": 2.0, "excelente": 3.0, "genial": 2.8,
    "perfecto": 2.8, "perfecta": 2.8, "encantado": 2.8, "encantada": 2.8, "rápido": 1.5,
    "rápida": 1.5, "resuelto": 1.8, "resolvieron": 2.0, "solucionado": 1.8,
    "solucionaron": 2.0, "buena atención": 2.5, "muy bueno": 2.5, "muy buena": 2.5,
    "bueno": 1.2, "buena": 1.2, "amable": 2.0, "recomiendo": 2.5, "estupendo": 2.8,
    "increíble": 2.5, "feliz": 2.5, "contento": 2.3, "contenta": 2.3, "a tiempo": 1.5,
    "antes de lo previsto": 2.0,
}

FR: dict[str, float] = {
    "ne fonctionne pas": -2.3, "ne fonctionne plus": -2.3, "ne marche pas": -2.3,
    "marche pas": -2.0, "ne marche plus": -2.3, "en panne": -2.3, "panne": -2.0,
    "coupure": -2.0, "coupé": -1.5, "annulé": -1.8, "retard": -2.0, "en retard": -2.0,
    "attente": -1.5, "toujours pas": -2.0, "toujours en attente": -2.3, "j'attends": -1.8,
    "aucune réponse": -2.3, "pas de réponse": -2.3, "sans réponse": -2.3,
    "aucune information": -2.0, "aucune nouvelle": -2.0, "personne": -1.2,
    "deux fois": -1.5, "facturé": -1.0, "prélevé": -1.0, "frais": -1.0,
    "remboursement": -1.2, "pas remboursé": -2.5, "arnaque": -2.8, "escroquerie": -2.8,
    "nul": -2.5, "nulle": -2.5, "horrible": -2.8, "honteux": -2.8, "honte": -2.5,
    "scandaleux": -2.8, "inadmissible": -2.8, "inacceptable": -2.5, "plainte": -1.8,
    "réclamation": -1.8, "avocat": -2.0, "médiateur": -2.0, "perdu": -1.8, "cassé": -2.0,
    "endommagé": -2.0, "abîmé": -2.0, "jamais reçu": -2.5, "pas reçu": -2.3,
    "jamais arrivé": -2.5, "pas arrivé": -2.3, "encore": -0.8, "déçu": -2.3, "déçue": -2.3,
    "catastrophe": -2.8, "lamentable": -2.5, "pire": -2.5, "mauvais": -2.0,
    "mauvaise": -2.0,
    "merci": 1.5, "merci beaucoup": 2.0, "excellent": 3.0, "génial": 2.8, "parfait": 2.8,
    "parfaite": 2.8, "super": 2.3, "top": 2.0, "rapide": 1.5, "rapidement": 1.5,
    "réparé": 1.8, "réparée": 1.8, "résolu": 1.8, "réglé": 1.8, "bravo": 2.5, "ravi": 2.8,
    "ravie": 2.8, "content": 2.3, "contente": 2.3, "efficace": 2.0, "aimable": 2.0,
    "je recommande": 2.5, "recommande": 2.0, "impeccable": 2.8, "le jour même": 1.8,
    "à l'heure": 1.5,
}

DE: dict[str, float] = {
    "funktioniert nicht": -2.3, "funktioniert nicht mehr": -2.5, "geht nicht": -2.0,
    "kein netz": -2.2, "kein internet": -2.2, "kein strom": -2.2, "kein wasser": -2.2,
    "störung": -2.0, "ausfall": -2.0, "ausgefallen": -2.0, "storniert": -1.5,
    "annulliert": -1.8, "gestrichen": -1.8, "verspätung": -2.0, "verspätet": -2.0,
    "warte": -1.5, "warten": -1.2, "immer noch": -1.5, "noch immer": -1.5, "seit": -0.8,
    "seit tagen": -2.0, "seit wochen": -2.3, "keine antwort": -2.3,
    "keine rückmeldung": -2.3, "meldet sich nicht": -2.3, "niemand": -1.5,
    "doppelt abgebucht": -2.5, "zweimal abgebucht": -2.5, "abgebucht": -1.0,
    "gebühren": -1.0, "rückerstattung": -1.2, "keine erstattung": -2.5, "betrug": -2.8,
    "abzocke": -2.8, "schlecht": -2.3, "schlechter": -2.3, "schlechteste": -3.0,
    "katastrophe": -2.8, "katastrophal": -2.8, "unverschämt": -2.8, "frechheit": -2.8,
    "unmöglich": -2.3, "inakzeptabel": -2.5, "beschwerde": -1.8, "anwalt": -2.0,
    "schlichtungsstelle": -2.0, "verloren": -1.8, "kaputt": -2.0, "beschädigt": -2.0,
    "nie angekommen": -2.5, "nicht angekommen": -2.3, "nicht erhalten": -2.3,
    "falsch": -1.8, "wieder": -0.8, "enttäuscht": -2.3, "ärgerlich": -2.3,
    "braunes wasser": -2.3,
    "danke": 1.5, "vielen dank": 2.0, "super": 2.3, "toll": 2.5, "klasse": 2.5,
    "prima": 2.5, "perfekt": 2.8, "schnell": 1.5, "freundlich": 2.0, "freundlicher": 2.0,
    "hilfsbereit": 2.3, "zufrieden": 2.3, "sehr zufrieden": 2.8, "empfehlen": 2.0,
    "empfehlenswert": 2.5, "gelöst": 1.8, "repariert": 1.8, "behoben": 1.8,
    "pünktlich": 1.8, "top": 2.0, "fair": 1.5, "faire": 1.5,
}

LEXICONS: dict[str, dict[str, float]] = {"es": ES, "fr": FR, "de": DE}
RATING_VALENCE = {1: -3.0, 2: -2.5, 3: 0.0, 4: 2.5, 5: 3.0}


class KeywordScorer:
    """One language's keyword lexicon, compiled once."""

    def __init__(self, language: str, lexicon: dict[str, float]) -> None:
        self.language = language
        self.matcher: PhraseMatcher[float] = PhraseMatcher()
        self.matcher.add_all(lexicon.items())
        self.matcher.add_all(EMOJI.items())

    def sentiment(self, tokens: Sequence[str], stars: int | None) -> Sentiment:
        items = [
            (value, " ".join(tokens[start:end]))
            for start, end, value in self.matcher.find(tokens)
            if value
        ]
        total = sum(v for v, _ in items)
        if stars is not None:
            total += RATING_VALENCE[stars]
        compound = round(total / math.sqrt(total * total + 15), 4) if total else 0.0
        label = "positive" if compound >= 0.05 else "negative" if compound <= -0.05 else "neutral"
        if label == "neutral":
            return Sentiment(label, compound, [f"{self.language}: keyword lexicon only, no cue"])
        sign = 1 if label == "positive" else -1
        chosen = sorted((i for i in items if i[0] * sign > 0), key=lambda i: -abs(i[0]))[:5]
        reasons = [f"'{text}' ({value:+.1f}, {self.language} keywords)" for value, text in chosen]
        if stars is not None and RATING_VALENCE[stars] * sign > 0:
            reasons.append(f"rating {stars}★ ({RATING_VALENCE[stars]:+.1f})")
        return Sentiment(label, compound, reasons)


def keyword_scorers() -> dict[str, KeywordScorer]:
    return {lang: KeywordScorer(lang, lexicon) for lang, lexicon in LEXICONS.items()}
