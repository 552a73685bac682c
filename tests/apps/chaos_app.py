"""A ClientApp that misbehaves on purpose, chosen by node config ``mode``.

``ok`` trains digits-cnn normally; ``nan`` replies NaN weights; ``shape`` replies weights of the
wrong shape; ``slow`` sleeps ``delay-s`` seconds before training (so a test can kill it
mid-round).
"""

import time

import numpy as np
from consortium_tasks.digits_cnn.client_app import app as digits_app
from flwr.app import Array, ArrayRecord, Context, Message, RecordDict
from flwr.clientapp import ClientApp

app = ClientApp()


@app.train()
def train(msg: Message, context: Context) -> Message:
    mode = context.node_config.get("mode", "ok")
    if mode == "slow":
        time.sleep(float(context.node_config.get("delay-s", 2.0)))
    reply = digits_app(msg, context)
    if mode in ("nan", "shape"):
        arrays = reply.content["arrays"]
        bad = {}
        for key, array in arrays.items():
            values = array.numpy()
            if mode == "nan":
                values = np.full_like(values, np.nan)
            else:
                values = np.zeros((values.size + 1,), dtype=values.dtype)
            bad[key] = Array(values)
        content = RecordDict({"arrays": ArrayRecord(bad), "metrics": reply.content["metrics"]})
        reply = Message(content=content, reply_to=msg)
    return reply


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    return digits_app(msg, context)
