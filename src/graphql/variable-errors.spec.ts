import { safeReason, scrubInputMessage, variableFieldErrors } from './variable-errors';

describe('variableFieldErrors', () => {
  it('names the path inside the input, without the variable, and never repeats the value', () => {
    expect(variableFieldErrors('Variable "$i" got invalid value "1990-02-30" at "i.dateOfBirth"; Expected type "Date". Date must be a real calendar day'))
      .toEqual([{ path: 'dateOfBirth', message: 'Expected type "Date".' }]);
    expect(variableFieldErrors('Variable "$i" got invalid value "x" at "i.condition.all[0]"; Expected type "X".'))
      .toEqual([{ path: 'condition.all[0]', message: 'Expected type "X".' }]);
  });

  it('names a missing or unknown field by its own path', () => {
    expect(variableFieldErrors('Variable "$i" got invalid value { dateOfBirth: "2000-01-01" }; Field "externalRef" of required type "String!" was not provided.'))
      .toEqual([{ path: 'externalRef', message: 'Field "externalRef" of required type "String!" was not provided.' }]);
    expect(variableFieldErrors('Variable "$i" got invalid value { nope: 1 }; Field "nope" is not defined by type "CreateCustomerInput".'))
      .toEqual([{ path: 'nope', message: 'Field "nope" is not defined by type "CreateCustomerInput".' }]);
  });

  it('names a scalar variable by its name, and ignores other messages', () => {
    expect(variableFieldErrors('Variable "$first" got invalid value "x"; Int cannot represent non-integer value: "x"'))
      .toEqual([{ path: 'first', message: 'Expected type "Int".' }]);
    expect(variableFieldErrors('Cannot query field "x" on type "Query".')).toEqual([]);
  });
});

describe('safeReason and scrubInputMessage: no input value survives', () => {
  const secret = 'jane.doe@example.test';
  it.each([
    [`String cannot represent a non string value: { email: "${secret}" }`, 'Expected type "String".'],
    [`Value "${secret}" does not exist in "Role" enum. Did you mean the enum value "ADMIN"?`, 'Expected a value of the "Role" enum.'],
    [`Expected type "Decimal". Decimal must be a string such as "12500.00"`, 'Expected type "Decimal".'],
    [`Expected non-nullable type "String!" not to be null.`, 'Expected non-nullable type "String!" not to be null.'],
    [`Expected type "CreateCustomerInput" to be an object.`, 'Expected type "CreateCustomerInput" to be an object.'],
    [`something graphql-js says about "${secret}"`, 'Invalid value.'],
  ])('%s', (reason, safe) => {
    expect(safeReason(reason)).toBe(safe);
    expect(safeReason(reason)).not.toContain(secret);
  });

  it('keeps our own scalar message after the type when the caller vouches for it', () => {
    expect(safeReason('Expected type "Date". Date must be a real calendar day', 'Date must be a real calendar day')).toBe('Expected type "Date". Date must be a real calendar day');
  });

  it('rewrites variable and literal messages without their values', () => {
    expect(scrubInputMessage(`Variable "$i" got invalid value { email: "${secret}", phone: 12 } at "i.phone"; String cannot represent a non string value: 12`))
      .toBe('Variable "$i" has an invalid value at "i.phone": Expected type "String".');
    expect(scrubInputMessage(`Expected value of type "String!", found 12; String cannot represent a non string value: 12`)).toBe('Expected type "String!".');
    expect(scrubInputMessage(`Cannot query field "x" on type "Query".`)).toBe('Cannot query field "x" on type "Query".');
  });
});
