"""Fixtures of the judges tests: the judges, judge, upload and jobs handlers; the behaving OpenAI
stand-in behind the tests' recording server; labelled comments whose right answers the tests know;
and the evaluations queue, delivered to the real queue handler as SQS would."""

from __future__ import annotations

import importlib
import uuid
from typing import Any

import pytest

from infra.lambda_runtime import LocalContext, load_handler
from infra.openai_standin import BehavingOpenAI, ScriptedOpenAI
from shop_marketing.training.jsonl import training_jsonl
from tests.support.lambda_invoke import ROOT, call_http, handler_of
from tests.support.settings import use_settings

GOOD = [
    "니트 세 번 빨았는데 보풀 하나 없어요. 어깨선도 딱 맞고 색감이 사진이랑 똑같아요.",
    "원피스 길이가 무릎 아래라 출근룩으로 딱이에요. 허리 밴딩이라 하루종일 편했어요.",
    "코트 두께감이 적당해서 늦가을부터 입기 좋아요. 주머니가 깊어서 폰도 안 빠져요.",
    "The denim kept its shape after a month of daily wear, and the hem was already finished.",
    "셔츠 재질이 부드러워서 맨살에 닿아도 안 따가워요. 다림질 안 해도 주름이 잘 안 가요.",
    "바지 허리가 넉넉해서 밥 먹고도 편해요. 기장도 168cm인 저한테 딱 맞아요.",
    "가디건 두 번째 구매예요. 세탁기 돌려도 늘어나지 않아서 색깔마다 하나씩 샀어요.",
    "운동화 쿠션이 좋아서 하루 만 보 걸어도 발이 안 아파요. 사이즈는 정사이즈 추천해요.",
    "패딩 정말 가벼운데 따뜻해요. 영하 10도 출근길에도 안에 니트 하나면 충분했어요.",
    "블라우스 비침이 없어서 이너 없이 입어요. 소매 단추도 튼튼하게 달려 있어요.",
    "트렌치코트 어깨 라인이 예쁘게 떨어져요. 비 오는 날 입었는데 물이 스며들지 않았어요.",
    "레깅스 허리가 말려 내려가지 않아서 요가할 때 너무 편해요. 두 달째 매일 입어요.",
    "모자 챙이 넓어서 여름 햇볕 가리기 좋아요. 접어서 가방에 넣어도 모양이 돌아와요.",
    "양말 목이 안 흘러내려요. 한 달 신었는데 뒤꿈치에 구멍 하나 없네요.",
]
BAD = [
    "프리오더 품절이네요😭😭",
    "좋아요",
    "배송 언제 와요?",
    "별로네요",
    "사장님 순대국 좋아하세요?",
    "예뻐요",
    "사이즈 문의 DM 드렸어요",
    "최고!",
    "환불 어떻게 해요",
    "이벤트 참여합니다 @friend",
    "재입고 언제 되나요",
    "ㅋㅋㅋㅋ",
    "팔로우 하고 갑니다",
    "너무 비싸요",
]


def jsonl(examples: list[tuple[str, str]]) -> bytes:
    return training_jsonl(examples)


# Training data (kept, for a prompted judge's examples) and a golden set that shares no comment.
TRAINING = [(text, "good") for text in GOOD[:7]] + [(text, "bad") for text in BAD[:7]]
GOLDEN_GOOD = [
    "린넨 셔츠인데 생각보다 덜 구겨져요. 출근길 지하철에서도 시원하게 입었어요.",
    "니트 조끼 색이 화면이랑 똑같아요. 셔츠 위에 겹쳐 입으니 사무실에서 딱이에요.",
    "슬랙스 허리 뒷밴딩 덕분에 앉아 있어도 편해요. 두 번 빨았는데 핏 그대로예요.",
    "롱패딩 지퍼가 양방향이라 운전할 때 편해요. 눈 오는 날에도 안이 젖지 않았어요.",
    "크롭 자켓 어깨 패드가 과하지 않아서 데일리로 입기 좋아요. 안감도 부드러워요.",
    "The wool coat is warm enough for my morning commute and the lining has not pilled at all.",
    "면 티셔츠 목이 늘어나지 않아요. 석 달 동안 일주일에 두 번씩 입었는데 멀쩡해요.",
    "플리츠 스커트 주름이 세탁 후에도 살아 있어요. 허리 사이즈도 표기대로 맞아요.",
    "캔버스 가방 바닥이 단단해서 노트북 넣어도 처지지 않아요. 끈 길이 조절도 편해요.",
    "잠옷 원단이 도톰해서 겨울에도 따뜻해요. 세탁기에 돌려도 보풀이 안 생겼어요.",
    "부츠 굽이 낮아서 하루 종일 서서 일해도 괜찮았어요. 방수도 잘 돼요.",
    "후드티 기모가 빠지지 않아요. 오버핏이라 안에 니트 입어도 여유 있어요.",
]
GOLDEN_BAD = [
    "품절 너무해요",
    "가격 얼마예요?",
    "예쁘다",
    "이거 어디서 사요?",
    "대박",
    "저도 갖고 싶어요",
    "배송 느려요",
    "맞팔해요",
    "실망이에요",
    "언제 세일해요",
    "굿굿",
    "별로 안 예쁜데",
]
GOLDEN = [(text, "good") for text in GOLDEN_GOOD] + [(text, "bad") for text in GOLDEN_BAD]


class Queue:
    """The evaluations queue as SQS holds it: messages sent after commit, delivered in batches of 10
    to the real queue handler; a record it reports failed becomes visible again (receive count + 1)."""

    def __init__(self, handler):
        self.handler = handler
        self.waiting: list[tuple[str, int]] = []
        self.sent = 0

    def __call__(self, bodies: list[str]) -> None:
        self.waiting.extend((body, 1) for body in bodies)
        self.sent += len(bodies)

    def deliver_once(self) -> list[dict[str, Any]]:
        batch, self.waiting = self.waiting[:10], self.waiting[10:]
        records = [sqs_record(body, count) for body, count in batch]
        response = self.handler({"Records": records}, LocalContext())
        failed = {failure["itemIdentifier"] for failure in response["batchItemFailures"]}
        for record, (body, count) in zip(records, batch, strict=True):
            if record["messageId"] in failed:
                self.waiting.append((body, count + 1))
        return response["batchItemFailures"]

    def drain(self, rounds: int = 50) -> None:
        for _ in range(rounds):
            if not self.waiting:
                return
            self.deliver_once()
        raise AssertionError("the evaluations queue did not drain")


def sqs_record(body: str, receive_count: int = 1) -> dict[str, Any]:
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "handle",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1523232000000",
            "SenderId": "123456789012",
            "ApproximateFirstReceiveTimestamp": "1523232000001",
        },
        "messageAttributes": {},
        "md5OfBody": "0",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:evaluations",
        "awsRegion": "us-east-1",
    }


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch):
    use_settings(monkeypatch, OPENAI_MAX_RETRIES="0", OPENAI_TIMEOUT_SECONDS="5", ACTIVE_MODEL_TTL_SECONDS="0")
    yield
    monkeypatch.undo()
    use_settings(monkeypatch)


class ReadingChat(ScriptedOpenAI):
    """The behaving stand-in, reading each comment (unless ``labels_by_comment`` or ``label`` say)."""

    def choose_label(self, comment: str, model: str = "") -> str | None:
        return BehavingOpenAI.choose_label(self, comment, model)


@pytest.fixture
def openai(openai_standin) -> ReadingChat:
    """The behaving stand-in answering every OpenAI route (chat, files, fine-tuning jobs)."""
    behaviour = ReadingChat(label=None)
    openai_standin.behave(behaviour)
    return behaviour


@pytest.fixture
def judges_handler(db):
    handler = handler_of("judges")
    importlib.import_module(handler.__module__).specs.clear()
    return handler


@pytest.fixture
def judge_handler(db):
    handler = handler_of("judge_comment")
    module = importlib.import_module(handler.__module__)
    module.judges.clear()
    yield handler
    module.judges.clear()


@pytest.fixture
def upload_handler(db):
    return handler_of("upload_training_file")


@pytest.fixture
def jobs_handler(db):
    return handler_of("fine_tuning_jobs")


@pytest.fixture
def queue(db):
    from shop_marketing.judging import evaluation_queue

    handler = load_handler(ROOT / "functions" / "judges", "app.evaluation_queue_handler")
    delivery = Queue(handler)
    evaluation_queue.deliver_without_a_queue(delivery)
    yield delivery
    evaluation_queue.deliver_without_a_queue(None)


def post(handler, path: str, body: Any = None, **kwargs):
    return call_http(handler, "POST", path, json=body, **kwargs)


def get(handler, path: str, query: str = ""):
    return call_http(handler, "GET", path, query=query)


def keep_examples(upload_handler, examples=TRAINING) -> str:
    result = call_http(
        upload_handler,
        "POST",
        "/training-files",
        body=jsonl(examples),
        headers={"content-type": "application/jsonl"},
        query="upload=false",
    )
    assert result.status == 201, result.json
    return result.json["id"]


def add_golden_set(judges_handler, examples=GOLDEN):
    result = call_http(
        judges_handler, "POST", "/golden-sets", body=jsonl(examples), headers={"content-type": "application/jsonl"}
    )
    assert result.status in (200, 201), result.json
    return result.json


def create_judge(judges_handler, **body):
    result = post(judges_handler, "/judges", body)
    assert result.status == 201, result.json
    return result.json


def judging_calls(openai_standin) -> list:
    """The chat calls that judged comments: a judge's probe at its creation left out."""
    from shop_marketing.judging.probing import PROBE_COMMENT

    return [
        call
        for call in openai_standin.requests_to("POST", "/chat/completions")
        if call.json()["messages"][-1]["content"] != PROBE_COMMENT
    ]


def probe_calls(openai_standin) -> list:
    """The chat calls that probed a model while a judge was created."""
    from shop_marketing.judging.probing import PROBE_COMMENT

    return [
        call
        for call in openai_standin.requests_to("POST", "/chat/completions")
        if call.json()["messages"][-1]["content"] == PROBE_COMMENT
    ]


def evaluate(judges_handler, queue, judge_id: int, **extra) -> dict[str, Any]:
    started = post(judges_handler, "/evaluations", {"judge_id": judge_id, **extra})
    assert started.status == 202, started.json
    queue.drain()
    return get(judges_handler, f"/evaluations/{started.json['id']}").json
