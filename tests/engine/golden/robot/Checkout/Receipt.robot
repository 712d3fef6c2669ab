*** Settings ***
Suite Teardown    Fail    printer jammed

*** Test Cases ***
Print Receipt
    Log    printed

Email Receipt
    Skip    no mail server
