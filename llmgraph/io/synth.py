"""Synthetic radiology reports with their exact RadGraph gold, for load tests and training demos.

Reports are assembled sentence by sentence from templates (finding x anatomy x certainty x
modifiers x measurements, with negation and hedging cues) per modality. Every entity is written
with its character span as the text is built, and mapped to RadGraph tokens through the
tokenizer's offsets, so the gold is exact by construction. The annotation follows the
conventions of the hand-annotated sample set (``eval/data/sample_reports.yaml``): cues such as
"no" or "may represent" are not entities; the finding they govern is OBS-DA or OBS-U; anatomy
modifiers modify their head; findings are located_at their anatomy. Synthetic gold is not a
benchmark: its language is far simpler than real reports.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Iterator, Sequence

from llmgraph.core.document import Document, Entity, Relation, document_from_report


@dataclass(frozen=True)
class Finding:
    """An observation noun, with the anatomy word it carries ("pleural" effusion: located_at) and an
    observation modifier ("focal" consolidation: modify, same certainty), if any."""

    name: str
    anatomy: str | None = None
    modifier: str | None = None


@dataclass(frozen=True)
class Vocabulary:
    """What one modality talks about. Words joined by ``_`` form one entity ("lymph_nodes")."""

    exam: tuple[str, ...]
    indications: tuple[Finding, ...]
    sites: tuple[str, ...]  # anatomy phrases: every word but the last modifies the last
    located: tuple[Finding, ...]  # findings placed in a site
    measurable: tuple[str, ...]  # findings that get a size
    negated: tuple[Finding, ...]  # typical pertinent negatives
    organs: tuple[str, ...]  # said to be normal / unremarkable
    sized: tuple[str, ...]  # "Heart size is normal."
    diagnoses: tuple[str, ...]  # what a finding may represent


CHEST_XRAY = Vocabulary(
    exam=("CHEST (PA AND LATERAL)", "CHEST (PORTABLE AP)"),
    indications=(Finding("cough"), Finding("fever"), Finding("pain", "chest"), Finding("dyspnea")),
    sites=("right upper lobe", "right middle lobe", "right lower lobe", "left upper lobe", "left lower lobe",
           "lingula", "right lung base", "left lung base", "left retrocardiac region"),
    located=(Finding("consolidation"), Finding("opacity"), Finding("atelectasis"), Finding("nodule")),
    measurable=("nodule", "opacity"),
    negated=(Finding("effusion", "pleural"), Finding("pneumothorax"), Finding("consolidation", modifier="focal"),
             Finding("edema", "pulmonary"), Finding("cardiomegaly")),
    organs=("heart", "cardiomediastinal silhouette", "mediastinum", "hila", "osseous structures"),
    sized=("heart", "cardiac silhouette"),
    diagnoses=("pneumonia", "atelectasis", "aspiration", "infection"),
)
CHEST_CT = Vocabulary(
    exam=("CT CHEST WITHOUT CONTRAST", "CT CHEST WITH CONTRAST"),
    indications=(Finding("cough"), Finding("dyspnea"), Finding("nodule", "pulmonary"), Finding("hemoptysis")),
    sites=("right upper lobe", "right lower lobe", "left upper lobe", "left lower lobe", "right middle lobe",
           "anterior mediastinum", "right hilum"),
    located=(Finding("nodule"), Finding("opacity", modifier="ground-glass"), Finding("consolidation"),
             Finding("mass"), Finding("bronchiectasis"), Finding("emphysema")),
    measurable=("nodule", "mass", "opacity"),
    negated=(Finding("effusion", "pleural"), Finding("pneumothorax"), Finding("lymphadenopathy"),
             Finding("effusion", "pericardial"), Finding("embolism", "pulmonary")),
    organs=("heart", "thyroid gland", "airways", "osseous structures", "great vessels"),
    sized=("heart",),
    diagnoses=("malignancy", "infection", "granuloma", "metastasis", "scarring"),
)
ABDOMEN_CT = Vocabulary(
    exam=("CT ABDOMEN AND PELVIS WITH CONTRAST", "CT ABDOMEN WITHOUT CONTRAST"),
    indications=(Finding("pain", "abdominal"), Finding("fever"), Finding("nausea"), Finding("pain", "flank")),
    sites=("right hepatic lobe", "left hepatic lobe", "left kidney", "right kidney", "pancreatic tail",
           "right adrenal gland", "sigmoid colon", "spleen", "pancreatic head"),
    located=(Finding("hypodensity"), Finding("lesion"), Finding("cyst"), Finding("thickening", "wall"),
             Finding("stranding", "fat"), Finding("calcification")),
    measurable=("hypodensity", "lesion", "cyst"),
    negated=(Finding("lymphadenopathy"), Finding("fluid", modifier="free"), Finding("hydronephrosis"),
             Finding("obstruction", "bowel"), Finding("abscess"), Finding("air", modifier="free")),
    organs=("liver", "spleen", "pancreas", "gallbladder", "adrenal glands", "urinary bladder"),
    sized=("liver", "spleen"),
    diagnoses=("metastasis", "hemangioma", "cyst", "diverticulitis", "malignancy"),
)
BRAIN_MR = Vocabulary(
    exam=("MRI BRAIN WITH AND WITHOUT CONTRAST", "MRI BRAIN WITHOUT CONTRAST"),
    indications=(Finding("headache"), Finding("dizziness"), Finding("weakness"), Finding("seizure")),
    sites=("right frontal lobe", "left parietal lobe", "periventricular white_matter", "left basal_ganglia",
           "right cerebellar hemisphere", "left temporal lobe"),
    located=(Finding("hyperintensities"), Finding("infarct"), Finding("enhancement"), Finding("hemorrhage"),
             Finding("lesion")),
    measurable=("lesion", "infarct"),
    negated=(Finding("shift", "midline"), Finding("hemorrhage", "intracranial"), Finding("mass_effect"),
             Finding("hydrocephalus"), Finding("diffusion", modifier="restricted")),
    organs=("ventricles", "basal cisterns", "orbits", "paranasal sinuses"),
    sized=("ventricular system",),
    diagnoses=("demyelination", "infarct", "ischemia", "metastasis"),
)
VENOUS_US = Vocabulary(
    exam=("US LOWER EXTREMITY VENOUS DUPLEX",),
    indications=(Finding("swelling", "leg"), Finding("pain", "calf"), Finding("swelling", "calf")),
    sites=("left popliteal vein", "right popliteal vein", "left femoral vein", "right femoral vein",
           "left posterior tibial veins", "right common femoral vein"),
    located=(Finding("thrombus"), Finding("thrombus", modifier="occlusive"), Finding("reflux")),
    measurable=("thrombus",),
    negated=(Finding("thrombosis", "venous"), Finding("thrombus", "intraluminal"), Finding("cyst", "Baker")),
    organs=("left femoral vein", "right popliteal vein", "left common femoral vein"),
    sized=(),
    diagnoses=("thrombosis", "thrombophlebitis"),
)
ABDOMEN_US = Vocabulary(
    exam=("US ABDOMEN LIMITED", "US RIGHT UPPER QUADRANT"),
    indications=(Finding("pain", "epigastric"), Finding("pain", "abdominal"), Finding("nausea")),
    sites=("gallbladder", "right hepatic lobe", "left hepatic lobe", "gallbladder neck", "right kidney"),
    located=(Finding("sludge"), Finding("gallstone"), Finding("lesion"), Finding("thickening", "wall")),
    measurable=("gallstone", "lesion"),
    negated=(Finding("dilatation", "biliary"), Finding("ascites"), Finding("fluid", "pericholecystic"),
             Finding("hydronephrosis")),
    organs=("liver", "common bile duct", "pancreas", "right kidney"),
    sized=("liver", "spleen", "common bile duct"),
    diagnoses=("cholecystitis", "hemangioma", "steatosis", "cholelithiasis"),
)
VOCABULARIES: dict[str, tuple[Vocabulary, ...]] = {
    "CXR": (CHEST_XRAY,), "CT": (CHEST_CT, ABDOMEN_CT), "MR": (BRAIN_MR,), "US": (VENOUS_US, ABDOMEN_US)}
MODALITIES = tuple(VOCABULARIES)

SEVERITIES = ("mild", "moderate", "severe", "small", "large", "minimal", "new", "patchy")
NEGATION_CUES = ("No", "There is no", "No evidence of", "Negative for")
HEDGES = ("which may represent", "concerning for", "suspicious for", "likely")
PREPOSITIONS = ("in the", "within the", "involving the")


@dataclass
class ReportBuilder:
    """Report text with entities (character spans) and relations, written left to right."""

    text: str = ""
    spans: list[tuple[int, int, str]] = field(default_factory=list)
    relations: list[tuple[str, int, int]] = field(default_factory=list)

    def say(self, words: str) -> None:
        self.text += words

    def entity(self, words: str, label: str) -> int:
        """Write ``words`` (``_`` joins one entity's words) as one entity; its index."""
        start = len(self.text)
        self.text += words.replace("_", " ")
        self.spans.append((start, len(self.text), label))
        return len(self.spans) - 1

    def relate(self, source: int, kind: str, target: int) -> None:
        self.relations.append((kind, source, target))

    def anatomy(self, phrase: str) -> int:
        """An anatomy phrase; every word modifies the last (the head), whose index is returned."""
        words = phrase.split()
        modifiers = []
        for word in words[:-1]:
            modifiers.append(self.entity(word, "ANAT-DP"))
            self.say(" ")
        head = self.entity(words[-1], "ANAT-DP")
        for modifier in modifiers:
            self.relate(modifier, "modify", head)
        return head

    def finding(self, finding: Finding, label: str, capital: bool = False) -> int:
        """``[modifier] [anatomy] name``: the modifier modifies it, it is located_at the anatomy."""
        before = []
        for word, kind in ((finding.modifier, label), (finding.anatomy, "ANAT-DP")):
            if word:
                before.append((self.entity(_capital(word) if capital else word, kind), kind))
                self.say(" ")
                capital = False
        head = self.entity(_capital(finding.name) if capital else finding.name, label)
        for index, kind in before:
            self.relate(*((index, "modify", head) if kind == label else (head, "located_at", index)))
        return head


def _capital(words: str) -> str:
    return words[:1].upper() + words[1:]


def _measurement(rng: random.Random) -> str:
    first = f"{rng.randint(3, 45) / 10:.1f}"
    return f"{first} x {rng.randint(3, 30) / 10:.1f} cm" if rng.random() < 0.5 else f"{rng.randint(3, 25)} mm"


# Sentences ---------------------------------------------------------------------------------------

def _located(out: ReportBuilder, vocab: Vocabulary, rng: random.Random, hedge: str) -> None:
    """A finding in a site: plain ("Mild 6 mm opacity in the right lower lobe."), ``possible``
    (the finding OBS-U), ``hedged`` (", concerning for pneumonia": an OBS-U diagnosis) or
    ``consistent`` (", consistent with pneumonia": a definite one)."""
    finding = rng.choice(vocab.located)
    capital = True
    modifiers = []
    if hedge == "possible":
        out.say("Possible ")
        capital = False
    else:  # modifiers only on definite findings
        if rng.random() < 0.5:
            modifiers.append(out.entity(_capital(rng.choice(SEVERITIES)), "OBS-DP"))
            out.say(" ")
            capital = False
        if finding.name in vocab.measurable and rng.random() < 0.5:
            modifiers.append(out.entity(_measurement(rng), "OBS-DP"))
            out.say(" ")
            capital = False
    head = out.finding(finding, "OBS-U" if hedge == "possible" else "OBS-DP", capital)
    for modifier in modifiers:
        out.relate(modifier, "modify", head)
    out.say(f" {rng.choice(PREPOSITIONS)} ")
    out.relate(head, "located_at", out.anatomy(rng.choice(vocab.sites)))
    if hedge in ("hedged", "consistent"):
        out.say(f", {rng.choice(HEDGES) if hedge == 'hedged' else 'consistent with'} ")
        diagnosis = out.entity(rng.choice([d for d in vocab.diagnoses if d != finding.name]),
                               "OBS-U" if hedge == "hedged" else "OBS-DP")
        out.relate(head, "suggestive_of", diagnosis)
    out.say(". ")


def _negated(out: ReportBuilder, vocab: Vocabulary, rng: random.Random) -> None:
    """"No pleural effusion, pneumothorax, or focal consolidation." """
    findings = rng.sample(vocab.negated, rng.randint(1, min(3, len(vocab.negated))))
    out.say(f"{rng.choice(NEGATION_CUES)} ")
    for index, finding in enumerate(findings):
        if index:
            out.say(", or " if index == len(findings) - 1 and len(findings) > 2 else
                    (" or " if index == len(findings) - 1 else ", "))
        out.finding(finding, "OBS-DA")
    out.say(". ")


def _normal(out: ReportBuilder, vocab: Vocabulary, rng: random.Random, organ: str) -> None:
    """"The liver is unremarkable." """
    out.say("The ")
    head = out.anatomy(organ)
    out.say(f" {'are' if organ.endswith('s') and organ != 'pancreas' else 'is'} ")
    out.relate(out.entity(rng.choice(("normal", "unremarkable")), "OBS-DP"), "located_at", head)
    out.say(". ")


def _normal_size(out: ReportBuilder, vocab: Vocabulary, rng: random.Random) -> None:
    """"Heart size is normal.": size located_at heart, normal modify size."""
    head = out.anatomy(_capital(rng.choice(vocab.sized)))
    out.say(" ")
    size = out.entity("size", "OBS-DP")
    out.say(" is ")
    out.relate(size, "located_at", head)
    out.relate(out.entity("normal", "OBS-DP"), "modify", size)
    out.say(". ")


def _unchanged(out: ReportBuilder, vocab: Vocabulary, rng: random.Random) -> None:
    """"The nodule in the left upper lobe is unchanged." """
    out.say("The ")
    finding = rng.choice(vocab.located)
    head = out.finding(finding, "OBS-DP")
    out.say(f" {rng.choice(PREPOSITIONS)} ")
    out.relate(head, "located_at", out.anatomy(rng.choice(vocab.sites)))
    out.say(" are " if finding.name.endswith("s") else " is ")
    out.relate(out.entity(rng.choice(("unchanged", "stable", "decreased", "increased")), "OBS-DP"), "modify", head)
    out.say(". ")


def _findings(out: ReportBuilder, vocab: Vocabulary, rng: random.Random) -> None:
    """Two to five sentences in a shuffled order, then the pertinent negatives."""
    organs = iter(rng.sample(vocab.organs, len(vocab.organs)))
    kinds = rng.choices(("plain", "hedged", "possible", "normal", "size" if vocab.sized else "normal", "unchanged"),
                        k=rng.randint(2, 5))
    for kind in dict.fromkeys(kinds) if "size" in kinds else kinds:  # at most one size sentence
        if kind == "normal":
            organ = next(organs, None)  # each organ at most once
            if organ:
                _normal(out, vocab, rng, organ)
        elif kind == "size":
            _normal_size(out, vocab, rng)
        elif kind == "unchanged":
            _unchanged(out, vocab, rng)
        else:
            _located(out, vocab, rng, kind)
    _negated(out, vocab, rng)


def synth_report(index: int, seed: int = 0, modalities: Sequence[str] = MODALITIES) -> Document:
    """Report number ``index`` of the stream for ``seed`` (independent of how many are drawn)."""
    rng = random.Random(f"{seed}:{index}")
    modality = modalities[rng.randrange(len(modalities))]
    vocab = rng.choice(VOCABULARIES[modality])
    out = ReportBuilder()
    out.say(f"EXAMINATION: {rng.choice(vocab.exam)}.\nINDICATION: ")
    out.finding(rng.choice(vocab.indications), "OBS-DP", capital=True)
    out.say(f".\nCOMPARISON: {rng.choice(('None.', 'Prior study.'))}\nFINDINGS: ")
    _findings(out, vocab, rng)
    out.say("\nIMPRESSION: ")
    if rng.random() < 0.6:
        _located(out, vocab, rng, rng.choice(("hedged", "consistent")))
    else:
        out.say("No ")
        out.finding(Finding("abnormality", modifier="acute"), "OBS-DA")
        out.say(". ")
    return _document(f"synth-{index + 1:06d}", out, modality)


def _document(doc_id: str, out: ReportBuilder, modality: str) -> Document:
    """Map the character spans onto RadGraph tokens (entity ids 1, 2, ... in text order)."""
    report = out.text.rstrip()
    doc = document_from_report(doc_id, report, modality=modality, data_source="synthetic")
    tokens, offsets = doc.tokens, doc.token_offsets
    entities = []
    for number, (start, end, label) in enumerate(out.spans, 1):
        inside = [i for i, (a, b) in enumerate(offsets) if a >= start and b <= end]
        assert offsets[inside[0]][0] == start and offsets[inside[-1]][1] == end, "a token crosses an entity edge"
        entities.append(Entity(str(number), " ".join(tokens[inside[0]:inside[-1] + 1]), label, inside[0], inside[-1]))
    relations = [Relation(kind, entities[source].id, entities[target].id)  # grouped by source, as files list them
                 for kind, source, target in sorted(out.relations, key=lambda relation: relation[1])]
    doc.entities, doc.relations = entities, relations
    return doc


def synth_documents(n: int, seed: int = 0, modalities: Sequence[str] = MODALITIES) -> Iterator[Document]:
    """``n`` synthetic reports, streamed; the same seed gives the same reports, and a longer run
    starts with the reports of a shorter one."""
    return (synth_report(index, seed, tuple(modalities)) for index in range(n))
