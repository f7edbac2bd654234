"""Partners' example payloads, copied character for character from the documents in
/work/shared/partner-docs (tests/clients/test_documented_payloads.py checks them against the documents when the
folder is present). Where a document shows one status only, the other statuses are derived from the verbatim
example by changing that one value (``*_with_status`` below); where a document shows no example at all (Setu's
get-payment-status, the token endpoints) the payload is ours and says so.
"""

from __future__ import annotations

import json

# kaleidofin-collection-api.txt, Status API response.
KALEIDOFIN_STATUS = """{
"success": true,
"statusCode": "0",
"statusMessage": "Successful",
"billStatus": {
"systemBillId": 15,
"billStatus": "BILL_CREATED",
"receipt": null
}
}"""

# kaleidofin-collection-api.txt, Payment API response.
KALEIDOFIN_PAYMENT = """{
"success": true,
"statusCode": "0",
"statusMessage": "Successful",
"billStatus": {
"systemBillId": 19,
"billStatus": "PAYMENT_SUCCESSFUL",
"receipt": "R0123"
}
}"""

# kaleidofin-collection-api.txt, Fetch Bills for Customer response.
KALEIDOFIN_FETCH_BILLS = """{
"success": true,
"statusCode": "0",
"statusMessage": "Success",
"bills": [
{
"systemBillId": 18,
"partnerBillId": "TESTING-002",
"dueDate": "2020-09-01",
"generatedDate": "2020-08-01",
"billStatus": "BILL_CREATED",
"billAmount": 1000,
"billName": "June Installment",
"customerName": "Vishakha"
},
{
"systemBillId": 17,
"partnerBillId": "TEST-124",
"dueDate": "2020-08-15",
"generatedDate": "2020-08-01",
"billStatus": "BILL_CREATED",
"billAmount": 1200,
"billName": "July Installment",
"customerName": "Vishakha"
}
]
}"""

# payu-get-payment-status.txt, success scenario.
PAYU_SUCCESS = """{
   "code":200,
   "status":"SUCCESS",
   "payload":{
      "refId":"<refId>",
      "txnStatus":"PAYMENT_SUCCESS",
      "requestTimeStamp":"<Requested Time stamp>",
      "paidAmount":"<Amount Paid>",
      "billerId":"<billerId>",
      "additionalParams":{
         "txnReferenceId":"<txnRefId>",
         "billerReferenceNumber":"<billerReferenceNumber>",
         "key1":"value2",
         "key2":"value2"
      },
      "planResponse":[
         {
            "planType":"ACTIVATED",
            "key1":"value1",
            "key2":"value2",
            "key3":"value3",
            "key4":"value4",
            "key5":"value5"
         }
      ]
   }
}"""

# payu-get-payment-status.txt, the PayU Transaction ID does not exist.
PAYU_RECORD_NOT_FOUND = """{
   "code":200,
   "status":"SUCCESS",
   "payload":{
      "refId":"<refId>",
      "txnStatus":"RECORD_NOT_FOUND",
      "requestTimeStamp":"<Requested Time stamp>",
      "paidAmount":0,
      "billerId":"",
      "additionalParams":{
         "txnReferenceId":""
      }
   }
}"""

# payu-get-payment-status.txt, payment failed at the biller's end.
PAYU_FAILURE = """{
   "code":200,
   "status":"SUCCESS",
   "payload":{
      "refId":"<refId>",
      "txnStatus":"PAYMENT_FAILURE",
      "requestTimeStamp":"<Requested Time stamp>",
      "paidAmount":"<Amount Paid>",
      "billerId":"<BillerId>",
      "additionalParams":{
         "txnReferenceId":"<txnRefId>"
      }
   }
}"""

# payu-get-payment-status.txt, PayU waits for the actual status.
PAYU_PENDING = """{
   "code":200,
   "status":"SUCCESS",
   "payload":{
      "refId":"<refId>",
      "txnStatus":"PAYMENT_PENDING",
      "requestTimeStamp":"<Requested Time stamp>",
      "paidAmount":"<amount paid>",
      "billerId":"<billerId>",
      "additionalParams":{
         "txnReferenceId":"<txnRefId>"
      }
   }
}"""

# digiledge-payment-status-api.md, response example: cut off and missing a comma, as published (not JSON).
DIGILEDGE_PAYMENT_STATUS_AS_PUBLISHED = """{
"refId":"String",
"status":"String",
"reason":"String", "ack": { "api":"String",
"refId":"String",
"msgId":"String"
"rspCd":"String",
"ts":"String", "errorMessages": [
{
"errorC"""

# digiledge-payment-notification.txt, request example: missing its closing brackets, as published (not JSON).
DIGILEDGE_NOTIFICATION_AS_PUBLISHED = (
    "   \n"
    + """     {
    "refId":"String",
    "status":"String",
    "reason":"String", "ack": {
    "api":"String",
    "refId":"String",
    "msgId":"String",
    "rspCd":"String",
    "ts":"String", "errorMessages": [
    {
    "errorCd":"String", "errorDtl":"String"
    }"""
)

# cashfree-bill-payment-response.txt, the OpenAPI ``examples`` (pending, success, failed), field for field: the
# document gives them in YAML, so they are served as the same values in JSON.
CASHFREE_PENDING = {
    "status": "success",
    "message": "Payment is still being processed",
    "data": {
        "status": "processing",
        "response": {
            "bill_payment_response": {
                "head": {"bill_fetch_ref_id": "REF20240501ABC123"},
                "reason": {"response_code": "PENDING", "response_reason": "Processing"},
                "txn": {"transaction_ref_id": "TXN20240501XYZ789"},
            }
        },
    },
}
CASHFREE_SUCCESS = {
    "status": "success",
    "message": "Payment successful",
    "data": {
        "status": "success",
        "response": {
            "bill_payment_response": {
                "head": {"bill_fetch_ref_id": "REF20240501ABC123"},
                "reason": {"approval_ref_num": "APPR123456", "response_code": "000", "response_reason": "Approved"},
                "txn": {"transaction_ref_id": "TXN20240501XYZ789"},
                "biller_response": {
                    "customer_name": "John Doe",
                    "amount": "150000",
                    "due_date": "30/06/2024",
                    "bill_date": "01/06/2024",
                    "bill_number": "BILL20240601",
                    "bill_period": "June 2024",
                    "cust_conv_fee": "100",
                },
            }
        },
    },
}
CASHFREE_FAILED = {
    "status": "success",
    "message": "Payment failed",
    "data": {
        "status": "failed",
        "response": {
            "bill_payment_response": {
                "head": {"bill_fetch_ref_id": "REF20240501ABC123"},
                "reason": {
                    "approval_ref_num": None,
                    "response_code": "BM001",
                    "response_reason": "Biller unavailable",
                    "compliance_resp_cd": "C001",
                    "compliance_reason": "Transaction declined by biller",
                },
                "txn": {"transaction_ref_id": "TXN20240501XYZ789"},
            }
        },
    },
}
# The schema's ErrorResponse and UnauthorizedResponse, with their ``example`` values.
CASHFREE_BAD_REQUEST = {"status": "BAD_REQUEST", "message": "Validation error description", "data": None}
CASHFREE_UNAUTHORIZED = {"message": "Unauthorized"}


def kaleidofin_status_with(bill_status: str) -> str:
    """The verbatim Status API example with another ``billStatus`` (the page shows BILL_CREATED only)."""
    return KALEIDOFIN_STATUS.replace('"BILL_CREATED"', json.dumps(bill_status))


def kaleidofin_payment_with(bill_status: str) -> str:
    return KALEIDOFIN_PAYMENT.replace('"PAYMENT_SUCCESSFUL"', json.dumps(bill_status))


def digiledge_notification(status: str, reason: str = "String", error: tuple[str, str] | None = None) -> str:
    """The notification example with its closing brackets added and, optionally, real values for its strings.

    The Payment Status page says its answer has this shape; its own example is cut off.
    """
    text = DIGILEDGE_NOTIFICATION_AS_PUBLISHED + "\n    ]\n    }\n    }"
    text = text.replace('"status":"String"', f'"status":{json.dumps(status)}')
    text = text.replace('"reason":"String"', f'"reason":{json.dumps(reason)}')
    if error is not None:
        text = text.replace(
            '"errorCd":"String", "errorDtl":"String"',
            f'"errorCd":{json.dumps(error[0])}, "errorDtl":{json.dumps(error[1])}',
        )
    return text


# Setu publishes no get-payment-status example in our documents: these are ours, in Setu's baseResponse envelope
# ({status, success, data}) with the status words of setu-cou-polling.txt.
def setu_payment_status(status: str) -> dict[str, object]:
    return {"status": 200, "success": True, "data": {"status": status, "refId": "SETU-REF-1"}}


# Setu's getBillWithID (GET /utilities/bills/{platformBillId}, setu-billcollect-openapi.json) publishes no example:
# this one is ours, every field the spec's platformBill requires, in its baseResponse envelope, for the bill of
# setu-fetch-pay.mdx's fetchReceipt example (platformBillID 906910589572351478, billerBillID 891234567) with the
# receipt of its success answer.
def setu_bill(platform_bill_status: str, *, deemed: str = "NOT_DEEMED") -> dict[str, object]:
    return {
        "status": 200,
        "success": True,
        "data": {
            "platformBillID": "906910589572351478",
            "billerBillID": "891234567",
            "name": "Loan EMI",
            "customerAccount": {"id": "9117534711"},
            "billType": "LOAN",
            "recurrence": "ONE_TIME",
            "amountExactness": "EXACT",
            "aggregates": {"total": {"displayName": "Total", "amount": {"value": 1000, "currencyCode": "INR"}}},
            "paymentAddresses": [
                {"addressType": "VPA", "identifier": "setu-906910589572351478@setubank", "additionalInfo": {}}
            ],
            "platformBillStatus": platform_bill_status,
            "deemedBillStatus": deemed,
            "receipt": {"id": "XYZ987-891234567", "date": "2022-06-07T05:55:54.789Z", "status": "AVAILABLE"},
        },
    }


SETU_TOKEN = {"status": 200, "success": True, "data": {"token": "setu-access-token-abc123", "expiresIn": 1800}}
# PayU's token answer, shaped like PayU's published Get Token examples (not in our documents folder).
PAYU_TOKEN = {
    "access_token": "payu-access-token-0123456789abcdef",
    "token_type": "Bearer",
    "expires_in": 7200,
    "scope": "read_transactions",
    "created_at": 1700000000,
}


def kaleidofin_status_naming(bill_status: str, *, receipt: str | None = None, transaction_id: str | None = None) -> str:
    """A Status API answer that names a payment: its ``receipt``, and (not in Kaleidofin's example, read if sent)
    its ``transactionId``."""
    document = json.loads(kaleidofin_status_with(bill_status))
    document["billStatus"]["receipt"] = receipt
    if transaction_id is not None:
        document["billStatus"]["transactionId"] = transaction_id
    return json.dumps(document)
