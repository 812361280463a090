import { maskEmail, maskFullName, maskNationalId, maskPhone } from './masks';

describe('PII masks', () => {
  it('fullName keeps the first letter of each word', () => {
    expect(maskFullName('Smoke Person')).toBe('S* P*');
    expect(maskFullName('Jane  van Dyke')).toBe('J* v* D*');
    expect(maskFullName('Émile Zola')).toBe('É* Z*');
  });
  it('email keeps the first character and the domain', () => {
    expect(maskEmail('smoke.person@custos.test')).toBe('s***@custos.test');
  });
  it('phone and national id keep only the last four', () => {
    expect(maskPhone('+8613900001234')).toBe('**********1234');
    expect(maskNationalId('SMOKE1234')).toBe('*****1234');
  });
  it('shows nothing of values of four characters or fewer', () => {
    expect(maskFullName('Al')).toBe('****');
    expect(maskFullName('Bo')).toBe(maskFullName('Eve'));
    expect(maskEmail('a@b')).toBe('****');
    expect(maskPhone('1234')).toBe('****');
    expect(maskNationalId('X1')).toBe('****');
    expect(maskPhone('1')).toBe('****');
  });
  it('never reveals more than the rule', () => {
    const id = 'AB12345678';
    expect(maskNationalId(id).replace(/\*/g, '')).toBe('5678');
    const email = 'x@very-private.example';
    expect(maskEmail(email)).toBe('x***@very-private.example');
  });
});
