import { variableFieldErrors } from './variable-errors';

describe('variableFieldErrors', () => {
  it('names the path inside the input, without the variable', () => {
    expect(variableFieldErrors('Variable "$i" got invalid value "2025-02-30" at "i.dateOfBirth"; 2025-02-30 is not a calendar date'))
      .toEqual([{ path: 'dateOfBirth', message: '2025-02-30 is not a calendar date' }]);
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
      .toEqual([{ path: 'first', message: 'Int cannot represent non-integer value: "x"' }]);
    expect(variableFieldErrors('Cannot query field "x" on type "Query".')).toEqual([]);
  });
});
