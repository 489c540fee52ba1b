"""Part of bench/stub/selftest.sh: drives a running stub server's DynamoDB
side with boto3 (which checks every answer's x-amz-crc32) and checks its
answers.

    python3 selftest_boto3.py DYNAMODB_ENDPOINT TABLE

TABLE must exist and hold the value "hello sds" under the key "sds-value"
(written by sds). Prints one line per check; exits 1 on the first failure.
"""

import sys

import boto3
import botocore.config
import botocore.exceptions


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: python3 selftest_boto3.py DYNAMODB_ENDPOINT TABLE", file=sys.stderr)
        return 2
    endpoint, table = sys.argv[1], sys.argv[2]
    client = boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="y",
        config=botocore.config.Config(retries={"max_attempts": 1}))

    def key(k):
        return {"key": {"S": k}}

    checks = []

    def check(name):
        def register(fn):
            checks.append((name, fn))
            return fn
        return register

    @check("GetItem of sds's value")
    def _():
        r = client.get_item(TableName=table, Key=key("sds-value"), ConsistentRead=True)
        assert r["Item"] == {"key": {"S": "sds-value"}, "data": {"S": "hello sds"}}, r

    @check("PutItem then GetItem")
    def _():
        client.put_item(TableName=table, Item={**key("py-value"), "data": {"S": "hello py"}})
        r = client.get_item(TableName=table, Key=key("py-value"))
        assert r["Item"]["data"] == {"S": "hello py"}, r

    @check("UpdateItem ADD with ReturnValues UPDATED_NEW")
    def _():
        def add():
            return client.update_item(
                TableName=table, Key=key("py-ctr_shard_1"), UpdateExpression="ADD #d :a",
                ExpressionAttributeNames={"#d": "data"}, ExpressionAttributeValues={":a": {"N": "2"}},
                ReturnValues="UPDATED_NEW")
        assert add()["Attributes"] == {"data": {"N": "2"}}
        assert add()["Attributes"] == {"data": {"N": "4"}}

    @check("BatchGetItem returns exactly the keys that exist")
    def _():
        r = client.batch_get_item(RequestItems={
            table: {"Keys": [key("sds-value"), key("py-value"), key("no-such-key")]}})
        assert sorted(i["key"]["S"] for i in r["Responses"][table]) == ["py-value", "sds-value"], r
        assert r["UnprocessedKeys"] == {}, r

    @check("DeleteItem, then GetItem finds nothing")
    def _():
        client.delete_item(TableName=table, Key=key("py-value"))
        assert "Item" not in client.get_item(TableName=table, Key=key("py-value"))

    @check("PutItem with a failing condition: ConditionalCheckFailedException")
    def _():
        try:
            client.put_item(TableName=table, Item={**key("sds-value"), "data": {"S": "x"}},
                            ConditionExpression="attribute_not_exists(#k)",
                            ExpressionAttributeNames={"#k": "key"})
        except client.exceptions.ConditionalCheckFailedException:
            return
        raise AssertionError("the write succeeded")

    for name, fn in checks:
        try:
            fn()
        except (AssertionError, botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            print(f"FAIL py dynamodb {name}: {type(e).__name__} {e}")
            return 1
        print(f"ok   py dynamodb {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
