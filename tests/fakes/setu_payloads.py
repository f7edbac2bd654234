"""Setu's example payloads, copied character for character from its pages in /work/shared/partner-docs
(setu-*.mdx; tests/channels/setu/test_payloads.py checks each one against its page when the folder is present).

They are kept as published, ``//`` comments included, so that they can be compared with the pages; ``published``
reads one into Python (comments removed, numbers as ``int`` or ``Decimal`` as the server reads them). A few are
not JSON even without their comments (placeholders such as ``<bill object>``, the error page's pseudo-JSON): they
say so, and are read only as text.

What is not here, and why: setu-billcollect-openapi.json has no example for the biller-side operations (only the
``ref_id`` header's, below); setu-reports.mdx shows Setu's Reports API and setu-axis.mdx the Axis-via-Setu loan
contract, neither of which this channel serves; setu-go-live.mdx, setu-api-integration.mdx and
setu-cou-polling.txt show no payload. The bill-structure pages' other fragments (items, fees, taxes, computation
and aggregates with ``"string"`` and ``{}`` for values) describe shapes rather than give examples.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

# setu-fetch-pay.mdx: Fetch & Pay, "Fetch customer bill": the request body.
FETCH_BILL_REQUEST = """{
      "customerIdentifiers": [
        {
          "attributeName": "customerId",
          "attributeValue": "9117534711"
        }
      ]
}"""

# setu-fetch-pay.mdx: Fetch & Pay, "Scenario 1: Success, with outstanding bill for customer" (200).
FETCH_BILL_AVAILABLE = """{
  "data": {
    "customer": {
      "name": "Sharmaji Ka Beta",
      "additionalInfo": [
        {
          "EMI Amount": "900"
        },
        {
          "Charges": "100"
        }
      ]
    },
    "billDetails": {
      "bills": [
        {
          "items": [],
          "generatedOn": "2022-06-07T05:18:02.234Z",
          "customerAccount": {
            "id": "9117534711"
          },
          "recurrence": "ONE_TIME",
          "aggregates": {
            "total": {
              "amount": {
                "value": 100000, // in paise
                "currencyCode": "INR"
              },
              "displayName": "Total Receivable"
            }
          },
          "billerBillID": "891234567",
          "amountExactness": "EXACT"
        }
      ],
      "billFetchStatus": "AVAILABLE"
    }
  },
  "status": 200,
  "success": true
}"""

# setu-fetch-pay.mdx: Fetch & Pay, "Scenario 2: Identifier matched, but no outstanding bill for customer" (200).
FETCH_BILL_NO_OUTSTANDING = """{
      "data": {
        "billDetails": {
          "billFetchStatus": "NO_OUTSTANDING",
          "bills": []
        },
        "customer": {
          "name": "Sharmaji Ka Beta"
        }
      },
      "success": true,
      "status": 200
}"""

# setu-fetch-pay.mdx: Fetch & Pay, "Scenario 3: Failure, no customer found" (400).
FETCH_BILL_CUSTOMER_NOT_FOUND = """{
      "success": false,
      "status": 400,
      "error": {
        "traceID": "XXXXXX",
        "code": "customer-not-found",
        "docURL": "",
        "detail": "A customer with the provided credentials does not exist in the biller system.",
        "title": "customer-not-found"
      }
}"""

# setu-fetch-pay.mdx: Fetch & Pay, "Fetch bill payment receipt": the request body.
FETCH_RECEIPT_REQUEST = """{
      "platformBillID": "906910589572351478",
      "billerBillID": "891234567",
      "paymentDetails": {
        "amountPaid": {
          "value": 1000,
          "currencyCode": ""
        },
        "billAmount": {
          "value": 1000,
          "currencyCode": ""
        },
        "platformTransactionRefID": "26602931-3b6a-4c87-a14d-5d7cf584008f",
        "uniquePaymentRefID": "PP012151MYB616O9BSY1",
        "instrument": "UPI",
        "additionalInfo": null,
        "transactionNote": "",
        "transactionTimestamp": "2020-05-22T03:05:22.000Z",
        "campaignID": ""
      }
}"""

# setu-fetch-pay.mdx: Fetch & Pay, "Success response" (200).
FETCH_RECEIPT_SUCCESS = """{
      "status": 200,
      "success": true,
      "data": {
        "receipt": {
          "id": "XYZ987-891234567",
          "date": "2022-06-07T05:55:54.789Z"
        }
      }
}"""

# setu-fetch-pay.mdx: Fetch & Pay, "Failure scenarios", "Case 1" (500).
FETCH_RECEIPT_FAILURE = """{
    "status": 500,
    "success": false,
    "error": {
        "code": "unable-to-fulfill-request",
        "detail": "An error occured while processing this request.",
        "docURL": "",
        "title": "API_ERROR",
        "errors": [],
        "traceID": "XXXXXX"
    }
}"""

# setu-fetch-pay.mdx: Fetch & Pay, "APIs to call", "Expire Bill", "Success": Setu's own answer (a call we do not make).
EXPIRE_BILL_SUCCESS = """{
    "status"  : 200,
    "success" : true
}"""

# setu-fetch-pay.mdx: Fetch & Pay, "APIs to call", "Expire Bill", "Failure" (400): Setu's own error answer.
EXPIRE_BILL_NOT_FOUND = """{
    "status": 400,
    "success": false,
    "error": {
        "code": "bill-not-found",
        "detail": "Bill with ID [<platformBillID>] not found.",
        "docURL": "",
        "title": "PLATFORM_ERROR",
        "errors": [],
        "traceID": "XXXXXX"
    }
}"""

# setu-validate-pay.mdx: Validate & Pay, "Validate customer": the request body.
VALIDATE_CUSTOMER_REQUEST = """{
      "customerIdentifiers": [
        {
          "attributeName": "customerId",
          "attributeValue": "9117534711"
        }
      ]
}"""

# setu-validate-pay.mdx: Validate & Pay, "Scenario 1: Success" (200).
VALIDATE_CUSTOMER_SUCCESS = """{
  "data": {
    "customer": {
      "name": "Sharmaji Ka Beta",
      "additionalInfo": [ // optional
        {
          "Application No.": "091191"
        },
        {
          "Registered Mobile": "+91 88XXXXXX04"
        }
      ]
    },
    "billerBillID": "J63130000253",
    "additionalInfo": [ // optional
        {
            "loan_account_number": "123-45-999"
        }
    ],
    "settlement": { // optional
      "primaryAccount": {
          "id": "123456789",
          "ifsc": "AXISXXXX01",
          "name": "John Doe"
      }
    }
  },
  "status": 200,
  "success": true
}"""

# setu-validate-pay.mdx: Validate & Pay, "Scenario 2: Failure, no customer found" (400).
VALIDATE_CUSTOMER_NOT_FOUND = """{
      "success": false,
      "status": 400,
      "error": {
        "traceID": "XXXXXX",
        "code": "customer-not-found",
        "docURL": "",
        "detail": "A customer with the provided credentials does not exist in the biller system.",
        "title": "customer-not-found"
      }
}"""

# setu-validate-pay.mdx: Validate & Pay, "Fetch bill payment receipt": the request body. No billAmount, and
# "additionalInfo" twice: a list, then null (a JSON parser keeps the last, null).
VALIDATE_PAY_RECEIPT_REQUEST = """{
      "platformBillID": "906910589572351478",
      "billerBillID": "891234567",
      "paymentDetails": {
        "amountPaid": {
          "value": 1000,
          "currencyCode": ""
        },
        "additionalInfo": [ // optional
            {
                "loan_account_number": "123-45-999"
            }
        ],
        "platformTransactionRefID": "26602931-3b6a-4c87-a14d-5d7cf584008f",
        "uniquePaymentRefID": "PP012151MYB616O9BSY1",
        "instrument": "UPI",
        "additionalInfo": null,
        "transactionNote": "",
        "transactionTimestamp": "2020-05-22T03:05:22.000Z",
        "campaignID": ""
      }
}"""

# setu-validate-pay.mdx: Validate & Pay, "Success response" (200), with the optional settlement object.
VALIDATE_PAY_RECEIPT_SUCCESS = """{
      "status": 200,
      "success": true,
      "data": {
        "receipt": {
          "id": "XYZ987-891234567",
          "date": "2022-06-07T05:55:54.789Z"
        },
        "settlement": { // optional
          "primaryAccount": {
            "id": "123456789",
            "ifsc": "AXISXXXX01",
            "name": "John Doe"
          },
          "parts": [ // optional
            {
              "account": {
                "id": "987654321",
                "ifsc": "HDFCXXXX02",
                "name": "Dan Jeffer"
              },
              "remarks": "string", // optional
              "split": {
                "unit": "INR",
                "value": 250
              }
            }
          ]
        }
      }
}"""

# setu-notifications.mdx: Notifications, "Bill settlement status", "Bill settled": the BILL_SETTLEMENT_STATUS sample.
SETTLEMENT_NOTIFICATION = """// Sample JSON structure
{
    "partnerDetails": {
        "appID"             : "string",
        "productInstanceID" : "string"
    },
    "events": [
        {
            "id"        : "f3b41c8f-72fc-485d-b39a-cf497787a039",
            "type"      : "BILL_SETTLEMENT_STATUS",
            "timeStamp" : 1594293083984,
            "data"      : {
                "amountSettled"     : {
                    "currencyCode" : "INR",
                    "value"        : 108400 // in paise
                },
                "platformBillIds"   : ["platformBillId1", "platformBillId2"], // list of strings  
                "status"            : "SETTLEMENT_SUCCESSFUL",
                "transactionId"     : "1074362738220"
            }
        }
    ]
}"""

# setu-errors.mdx: Errors, "Sample error object". Not JSON as published ("number" for a value, and key-value pairs
# inside a list): kept as text; tests read its key names.
ERROR_OBJECT = """// Sample error object
{
    "status"  : number, // HTTP status code, (eg 400, 404 etc)
    "success" : false,
    "error"   : {
        "code"    : "string",  // Setu error code
        "title"   : "string",  // Title of the error
        "detail"  : "string",  // Detail of the error
        "docURL"  : "string",  // optional — if there is any documentation about the error
        "traceID" : "string",  // optional — trace
 
        //  The child error array follows a similar pattern as above
        "errors" : [
            "code"    : "string",
            "title"   : "string",
            "detail"  : "string",
            "docURL"  : "string",
        ]
    }
}"""

# setu-bill-structure.mdx: Bill Structure, "Amount" (a fragment: one key and its object).
BILL_STRUCTURE_AMOUNT = """"amount" : {
    "currencyCode" : "INR", // ISO 4217
    "value"        : 10000  // in paise, so this means 100 rupees
}"""

# setu-bill-structure.mdx: Bill Structure, "Sample bill": the EMI line items (a fragment).
BILL_STRUCTURE_SAMPLE_ITEMS = """"items" : [
    {
        "displayName" : "EMI — June",
        "description" : "Missed installment payment for June",
        "aggregates"  : {
            "total"   : {
                "currencyCode" : "INR",
                "value"        : 600000  // INR6000 in paise
            }
        }
    },
    {
        "displayName" : "EMI — July",
        "description" : "Installment for July",
        "aggregates"  : {
            "total"   : {
                "currencyCode" : "INR",
                "value"        : 600000  // INR6000 in paise
            }
        }
    }
]"""

# setu-bill-structure.mdx: Bill Structure, "Sample bill": the fees (a fragment).
BILL_STRUCTURE_SAMPLE_FEES = """"fees" : [
    {
        "displayName" : "Late fees",
        "description" : "Extra charge for missing the June payment",
        "aggregates"  : {
            "total"   : {
                "currencyCode" : "INR",
                "value"        : 20000  // in paise
            }
        }
    },
    {
        "displayName" : "Convenience fees",
        "description" : "Online processing charges",
        "aggregates"  : {
            "total"   : {
                "currencyCode" : "INR",
                "value"        : 1500  // in paise
            }
        }
    }
]"""

# setu-bill-structure.mdx: Bill Structure, "Sample bill", "ENTIRE BILL OBJECT". Not JSON as published (placeholders such
# as <late fees object>); its aggregates put displayName inside amount and spell "subtotal", unlike the spec.
BILL_STRUCTURE_ENTIRE_BILL = """//  ENTIRE BILL OBJECT
{
    "billerBillID"    : "CXR5JEQO8K",
    "recurrence"      : "ONE_TIME",
    "generatedOn"     : "2019-07-27T12:56:39Z",
    "dueDate"         : "2019-08-26T12:56:39Z",
    "amountExactness" : "EXACT",
    "fees" : [
        <late fees object>,
        <convenience fees object>
    ],
    "items" : [
        <june fee object>,
        <july fee object>
    ],
    "customerAccount" : {
        "id" : "asha.dev@gmail.com"
    },
    "aggregates"      : {
        "subtotal" : {
            "amount" : {
                "displayName" : "EMI amount",
                "value"       : 1200000  // in paise
            }
        },
        "total": {
            "amount" : {
                "displayName" : "Total payable amount",
                "value"       : 1221500  // in paise
            }
        }
    }
}"""

# setu-bill-structure.mdx: Bill Structure, "FETCH CUSTOMER BILLS API RESPONSE" (the <bill object> placeholder
# makes it not JSON).
BILL_STRUCTURE_FETCH_RESPONSE = """//  FETCH CUSTOMER BILLS API RESPONSE
{
    "status"  : 200,
    "success" : true,
    "data"    : {
        "customer" : {
            "name" : "Asha Dev"
        },
        "billDetails" : {
            "billFetchStatus" : "AVAILABLE",
            "bills" : [
                <bill object>
            ]
        }
    }
}"""

# setu-special-cases.mdx: Special cases, "Biller Category—Education": customer.additionalInfo as an object.
EDUCATION_CUSTOMER = """{ 
    "customer" : {
        "name" : "string", // should be student name
        "additionalInfo" : {
            "academicYear"   : "2020-2021",  // school academic year for the fees
            "course"          : "Class VIII-B",  // student class
            "enrollmentCode" : "7340-24703M",  // student unique enrolment code
            "parentName"     : "Asha Dev",  // parent name
            "schoolName"     : "India Public School",  // school name
            "schoolAddress"  : "5/3, KG Avenue, 2nd Block, Sector 6, Delhi"  // school address
        }
    }
}"""

# setu-special-cases.mdx: Special cases, "Option 2": customer.additionalInfo with the bill breakup URL.
EDUCATION_CUSTOMER_WITH_URL = """{
    "customer" : {
        "name" : "string", // should be student name
        "additionalInfo" : {
            "academicYear"   : "2020-2021",  // school academic year for the fees
            "course"          : "Class VIII-B",  // student class
            "enrollmentCode" : "7340-24703M",  // student unique enrolment code
            "parentName"     : "Asha Dev",  // parent name
            "schoolName"     : "India Public School",  // school name
            "schoolAddress"  : "5/3, KG Avenue, 2nd Block, Sector 6, Delhi",  // school address
            "URL"            : "https://some.url/with/bill/details"  // bill breakup URL
        }
    }
}"""

# setu-settlement-object.mdx: Settlement object, "Split settlement example" (primaryAccount wraps an "account"
# here, unlike the spec's splitAccount and the page's own "Primary account" section).
SETTLEMENT_SPLIT_EXAMPLE = """{
    "primaryAccount" : {
        "account" : {
            "id"   : "TUITION-FEE-ACCOUNT",
            "ifsc" : "string"
        }
    },
    "parts" : [
        {
            "account" : {
                "id"   : "BUS_FEE_ACCOUNT",
                "ifsc" : "string"
            },
            "split" : {
                "value" : 60000,
                "unit"  : "INR"
            },
            "remarks" : "Sports fee"
        },
        {
            "account" : {
                "id"   : "SPORTS-FEE-ACCOUNT",
                "ifsc" : "string"
            },
            "split" : {
                "value": 40000,
                "unit" : "INR"
            },
            "remarks" : "Sports fee"
        }
    ]
}"""

# setu-jwt.mdx: JWT authentication, "JWT basics": the header format and a sample token.
JWT_AUTH_HEADER = """// Auth header format
Authorization: Bearer <JWT_TOKEN>
// Sample JWT encoded
Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiI4ZjQ3ZTQxYy00Njg0LTRhZjEtYjFiOC0yNDZjODMxMTIwMzMiLCJpYXQiOjE1NzI0OTMzNTYsImp0aSI6ImM1MzQ0N2UzLTk5M2EtNDRhZS05Yzc4LTMxZjQ1YzNjMDgyZSJ9.xfYii9lfWMHtMBgjK5U6NFN_6_Q9jw8UMQu8Jnvftbs"""

# setu-jwt.mdx: JWT authentication, "Payload": the sample claims.
JWT_SAMPLE_PAYLOAD = """// Sample JWT payload
{
    "aud" : "8f47e41c-4684-4af1-b1b8-246c83112033", // This is the schemeID
    "iat" : 1572493356,
    "jti" : "c53447e3-993a-44ae-9c78-31f45c3c082e"
}
// is encoded to
eyJhdWQiOiI4ZjQ3ZTQxYy00Njg0LTRhZjEtYjFiOC0yNDZjODMxMTIwMzMiLCJpYXQiOjE1NzI0OTMzNTYsImp0aSI6ImM1MzQ0N2UzLTk5M2EtNDRhZS05Yzc4LTMxZjQ1YzNjMDgyZSJ9"""

# setu-jwt.mdx: JWT authentication, "Signature": input, secret and signature of the sample token.
JWT_SIGNATURE_EXAMPLE = """Input string   : eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiI4ZjQ3ZTQxYy00Njg0LTRhZjEtYjFiOC0yNDZjODMxMTIwMzMiLCJpYXQiOjE1NzI0OTMzNTYsImp0aSI6ImM1MzQ0N2UzLTk5M2EtNDRhZS05Yzc4LTMxZjQ1YzNjMDgyZSJ9
Secret         : 7c2e036c-908f-48ba-abe3-cd8745a6fa99
HA256 Signaure : xfYii9lfWMHtMBgjK5U6NFN_6_Q9jw8UMQu8Jnvftbs"""

# setu-billcollect-openapi.json, the ``ref_id`` header of fetchCustomerBills, validateCustomer and fetchBillReceipt.
REF_ID_HEADER_EXAMPLE = "PP012305091019168458445744231291019"

# setu-jwt.mdx, "JWT basics" and "Signature": the sample token, and the secret and audience (the schemeID) it was
# signed for. (The page's openssl command uses another secret, BBzKUWAZeAS2tBsk0FtJT4ep, which does not give this
# signature.)
JWT_SAMPLE_TOKEN = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiI4ZjQ3ZTQxYy00Njg0LTRhZjEtYjFiOC0yNDZjODMxMTIwMzMiLCJpYXQiOjE1Nz"
    "I0OTMzNTYsImp0aSI6ImM1MzQ0N2UzLTk5M2EtNDRhZS05Yzc4LTMxZjQ1YzNjMDgyZSJ9.xfYii9lfWMHtMBgjK5U6NFN_6_Q9jw8UMQu8Jnvftbs"
)
JWT_SAMPLE_SECRET = "7c2e036c-908f-48ba-abe3-cd8745a6fa99"
JWT_SAMPLE_AUDIENCE = "8f47e41c-4684-4af1-b1b8-246c83112033"


def published(text: str) -> Any:
    """A published example as the server would read it: ``//`` comments (outside strings) removed, numbers that
    are not integers as Decimal, a repeated key keeping its last value."""
    return json.loads(strip_comments(text), parse_float=Decimal)


def published_fragment(text: str) -> Any:
    """A fragment such as ``"amount" : {...}``, read as the object it would be a member of."""
    return published("{" + strip_comments(text) + "}")


def strip_comments(text: str) -> str:
    """Remove ``// ...`` to the end of the line, except inside a JSON string (URLs hold "//")."""
    kept: list[str] = []
    in_string = escaped = False
    index = 0
    while index < len(text):
        character = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif character == "\\":
                escaped = True
            elif character == '"':
                in_string = False
        elif character == '"':
            in_string = True
        elif text.startswith("//", index):
            index = text.find("\n", index)
            if index == -1:
                break
            continue
        kept.append(character)
        index += 1
    return "".join(kept)
