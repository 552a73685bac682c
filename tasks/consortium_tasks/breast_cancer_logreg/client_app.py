"""ClientApp of task ``breast-cancer-logreg``, written as in Flower's documentation."""

from __future__ import annotations

from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from consortium_tasks.breast_cancer_logreg.task import TASK, build_model, load_data
from consortium_tasks.local_training import train_locally
from consortium_tasks.training import evaluate_model

__all__ = ["app"]

app = ClientApp()


@app.train()
def train(msg: Message, context: Context) -> Message:
    """Train the received global model on this participant's data; reply with the new weights."""
    model = build_model()
    model.load_state_dict(msg.content["arrays"].to_torch_state_dict())
    x, y = load_data(context.node_config)
    trained = train_locally(
        model,
        x,
        y,
        defaults=TASK.defaults,
        node_config=context.node_config,
        run_config=context.run_config,
        config=msg.content["config"],
    )
    metrics = MetricRecord({**trained, "num-examples": len(x)})
    content = RecordDict({"arrays": ArrayRecord(model.state_dict()), "metrics": metrics})
    return Message(content=content, reply_to=msg)


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    """Score the received global model on this participant's data."""
    model = build_model()
    model.load_state_dict(msg.content["arrays"].to_torch_state_dict())
    x, y = load_data(context.node_config)
    result = evaluate_model(model, x, y)
    metrics = MetricRecord(
        {"eval_loss": result.loss, "eval_acc": result.accuracy, "num-examples": len(x)}
    )
    return Message(content=RecordDict({"metrics": metrics}), reply_to=msg)
