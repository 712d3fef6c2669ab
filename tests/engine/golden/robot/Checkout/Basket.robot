*** Settings ***
Documentation    Tests that pass, fail and skip.

*** Test Cases ***
Add Item
    Log    adding an item
    Should Be Equal    ${1}    ${1}

Remove Item Fails
    Log    removing an item
    Check Total    3    4

Check Every Price
    FOR    ${price}    IN    1    2    -3
        IF    ${price} < 0
            Fail    negative price ${price}
        END
    END

Pay Later Is Skipped
    Skip    payment provider not configured

Tagged Skip On Failure
    [Tags]    robot:skip-on-failure
    Fail    flaky dependency down

Ünïcode & <Special> Name
    Should Contain    käse    ä

*** Keywords ***
Check Total
    [Arguments]    ${expected}    ${actual}
    Should Be Equal As Integers    ${expected}    ${actual}    msg=basket total differs
